#!/usr/bin/env python3
"""The manuals say what the programs do, and nothing they do not.

  check-manuals.py SOURCE_ROOT COHORTCTL COHORTD COHORT_TOOL

- cohortctl(1): every command of `cohortctl --help` has an entry under COMMANDS and every
  option of its `--help` is in that entry (or, for --json and --quiet, under GLOBAL
  OPTIONS); every entry is a command of --help, and every option an entry's synopsis names
  is one of that command's; every global option is under GLOBAL OPTIONS and the reverse.
- cohortd(8), cohort-tool(8): every option of --help is under OPTIONS and the reverse;
  cohort-tool's commands are under COMMANDS and the reverse.
- the bash completion (data/cohortctl.bash-completion): its nouns, verbs and options are
  those of cohortctl's --help.
- cohortd.conf(5): its keys, those of data/cohortd.conf and those of cohortd's key tables
  (daemon/**/cohort-config.c) are the same, group by group.

Prints each difference and exits 1 when there is one.
"""

import os
import re
import subprocess
import sys

problems = []


def problem(text):
    problems.append(text)
    print("not ok: " + text)


# ---- roff, as far as the manuals use it -------------------------------------------------

FONT = re.compile(r"\\f[BIRP]|\\f\(..|\\&|\\:")


def roff_text(text):
    """Plain text of roff source text: fonts dropped, escapes resolved."""
    text = FONT.sub("", text)
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\(mu", "x")
    text = text.replace("\\ ", " ").replace("\\~", " ")
    return text


def roff_args(rest):
    """The arguments of a macro line, quotes honoured."""
    args, cur, quoted, any_ = [], "", False, False
    for ch in rest:
        if ch == '"':
            quoted = not quoted
            any_ = True
        elif ch in " \t" and not quoted:
            if cur or any_:
                args.append(cur)
            cur, any_ = "", False
        else:
            cur += ch
    if cur or any_:
        args.append(cur)
    return args


def roff_line(line):
    """A line of running text from a source line (macros with text resolved); None for a
    control line without text."""
    if not line.startswith("."):
        return roff_text(line)
    m = re.match(r"\.(\w+)\s*(.*)", line)
    if not m:
        return None
    macro, rest = m.groups()
    if macro in ("B", "I", "SM", "SB"):
        return roff_text(" ".join(roff_args(rest)))
    if macro in ("BI", "BR", "IB", "IR", "RB", "RI"):
        return roff_text("".join(roff_args(rest)))
    return None


class Manual:
    """A manual's sections (.SH) as lists of entries: (tag, text) for each .TP (.TQ lines
    join the tag, and so do the lines up to a .br that ends a synopsis of several lines),
    and (None, text) for what stands outside one."""

    def __init__(self, path):
        self.path = path
        self.sections = {}
        section, tag, body, in_tag = None, None, [], False
        entries = None

        def close():
            if entries is not None and (tag is not None or body):
                entries.append((tag, " ".join(body)))

        with open(path, encoding="utf-8") as f:
            for raw in f:
                line = raw.rstrip("\n")
                if line.startswith(".\\\""):
                    continue
                if line.startswith(".SH"):
                    close()
                    section = " ".join(roff_args(line[3:])).strip()
                    entries = self.sections.setdefault(section, [])
                    tag, body, in_tag = None, [], False
                    continue
                if line.startswith((".TP", ".SS", ".PP", ".TQ")):
                    if line.startswith(".TQ"):
                        in_tag = True
                        tag = (tag or "") + "\n"
                        continue
                    close()
                    tag, body = None, []
                    in_tag = line.startswith(".TP")
                    if line.startswith(".SS"):
                        body = ["SS " + " ".join(roff_args(line[3:]))]
                    continue
                if line.startswith(".br") and tag is not None and body:
                    tag += " " + " ".join(body)
                    body = []
                    continue
                text = roff_line(line)
                if text is None:
                    continue
                if in_tag:
                    tag = (tag or "") + text
                    in_tag = False
                else:
                    body.append(text)
            close()

    def entries(self, section):
        if section not in self.sections:
            problem("%s has no section %s" % (self.path, section))
        return self.sections.get(section, [])

    def text(self, section):
        return " ".join((t or "") + " " + b for t, b in self.entries(section))


LONG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SHORT = re.compile(r"(?<![\w-])-[a-zA-Z](?![\w-])")


# ---- --help, as GLib's option parser writes it ------------------------------------------


def run_help(argv):
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        problem("%s --help exits %d: %s" % (" ".join(argv), out.returncode, out.stderr))
    return out.stdout


def help_block(text, title):
    """The indented lines under 'title:' up to the next unindented line."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip() == title + ":":
            inside = True
            continue
        if inside:
            if line and not line.startswith(" "):
                break
            if line.strip():
                lines.append(line)
    return lines


def help_options(text):
    """The long and short options under 'Application Options:'."""
    opts = set()
    for line in help_block(text, "Application Options"):
        head = re.split(r"\s{2,}", line.strip())[0]
        for part in head.split(","):
            opts.add(part.strip().split("=")[0])
    return opts


# ---- cohortctl(1) ------------------------------------------------------------------------

GLOBAL_IN_VERBS = {"--json", "-q", "--quiet", "-h", "--help"}


def manual_commands(manual):
    """Command -> (synopsis, whole entry), for each entry under COMMANDS."""
    commands = {}
    for tag, body in manual.entries("COMMANDS"):
        if tag is None:
            continue
        for synopsis in tag.split("\n"):
            words = synopsis.split()
            if not words:
                continue
            names = [words[0]]
            if len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", words[1]) and (
                words[0] not in ("whoami", "login", "redeem", "usage", "version")
            ):
                names = [words[0] + " " + verb for verb in words[1].split("|")]
            for name in names:
                prev = commands.get(name, ("", ""))
                commands[name] = (prev[0] + " " + synopsis, prev[1] + " " + tag + " " + body)
    return commands


def check_cohortctl(root, cohortctl):
    manual = Manual(os.path.join(root, "docs", "cohortctl.1"))
    top = run_help([cohortctl])
    helped = []
    for line in help_block(top, "Commands"):
        name = re.split(r"\s{2,}", line.strip())[0]
        helped.append(name)
    if len(helped) < 10:
        problem("cohortctl --help lists only %d commands: is its Commands: block parsed?" %
                len(helped))

    documented = manual_commands(manual)
    for name in helped:
        if name not in documented:
            problem("cohortctl(1) has no entry for '%s' (cohortctl --help lists it)" % name)
    for name in documented:
        if name not in helped:
            problem("cohortctl(1) documents '%s', which cohortctl --help does not list" % name)

    globals_help = help_options(top) | {"-h", "--help"}
    globals_man = " ".join(tag or "" for tag, _ in manual.entries("GLOBAL OPTIONS"))
    for opt in sorted(globals_help):
        if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), globals_man):
            problem("cohortctl(1) GLOBAL OPTIONS lacks %s (cohortctl --help has it)" % opt)
    for opt in sorted(set(LONG.findall(globals_man)) | set(SHORT.findall(globals_man))):
        if opt not in globals_help:
            problem("cohortctl(1) GLOBAL OPTIONS names %s, which cohortctl --help does not have"
                    % opt)

    for name in helped:
        opts = help_options(run_help([cohortctl] + name.split()))
        if "--json" not in opts:
            problem("cohortctl %s --help lists no options: is it parsed?" % name)
        if name not in documented:
            continue
        synopsis, entry = documented[name]
        for opt in sorted(opts - GLOBAL_IN_VERBS):
            if opt.startswith("--") and not re.search(
                    r"(?<![\w-])%s(?![\w-])" % re.escape(opt), entry):
                problem("cohortctl(1) '%s' does not mention %s (its --help has it)" %
                        (name, opt))
        for opt in sorted(set(LONG.findall(synopsis))):
            if opt not in opts:
                problem("cohortctl(1) '%s' names %s, which 'cohortctl %s --help' does not have"
                        % (name, opt, name))
    return helped


# ---- bash completion ---------------------------------------------------------------------


def completion_cases(source, function):
    """PATTERN -> words, from the case statement of a completion function whose branches
    echo a word list: `"cohort provision" | "cohort reclaim") echo "--no-wait" ;;`."""
    m = re.search(r"^%s\(\)\n\{\n(.*?)^\}" % function, source, re.S | re.M)
    if not m:
        problem("data/cohortctl.bash-completion has no %s()" % function)
        return {}
    cases = {}
    for line in m.group(1).splitlines():
        cm = re.match(r'\s*(.+?)\)\s*echo\s+"([^"]*)"\s*;;', line)
        if cm:
            for pattern in cm.group(1).split("|"):
                cases[pattern.strip().strip('"').strip()] = set(cm.group(2).split())
    return cases


def check_completion(root, cohortctl, helped):
    with open(os.path.join(root, "data", "cohortctl.bash-completion"), encoding="utf-8") as f:
        source = f.read()
    verbs = completion_cases(source, "_cohortctl_verbs")
    options = completion_cases(source, "_cohortctl_options")
    nm = re.search(r'local nouns="([^"]*)"', source)
    nouns = set(nm.group(1).split()) - {"help"} if nm else set()
    want_nouns = {name.split()[0] for name in helped}
    for noun in sorted(want_nouns ^ nouns):
        problem("the completion's nouns and cohortctl --help differ on '%s'" % noun)
    for name in helped:
        words = name.split()
        if len(words) == 2 and words[1] not in verbs.get(words[0], set()):
            problem("the completion does not offer the verb '%s'" % name)
        opts = help_options(run_help([cohortctl] + words)) - GLOBAL_IN_VERBS
        want = {o for o in opts if o.startswith("--")}
        have = options.get(name if len(words) == 2 else words[0], set())
        for opt in sorted(want - have):
            problem("the completion does not offer %s for '%s'" % (opt, name))
        for opt in sorted(have - want):
            problem("the completion offers %s for '%s', which its --help does not have" %
                    (opt, name))
    for noun, listed in verbs.items():
        for verb in listed:
            if "%s %s" % (noun, verb) not in helped:
                problem("the completion offers '%s %s', which cohortctl --help does not list" %
                        (noun, verb))


# ---- cohortd(8), cohort-tool(8) -----------------------------------------------------------


def check_options(root, page, binary):
    manual = Manual(os.path.join(root, "docs", page))
    opts = help_options(run_help([binary])) | {"-h", "--help"}
    if len(opts) < 3:
        problem("%s --help lists no options: is it parsed?" % binary)
    tags = " ".join(tag or "" for tag, _ in manual.entries("OPTIONS"))
    named = set(LONG.findall(tags)) | set(SHORT.findall(tags))
    for opt in sorted(opts - named):
        problem("%s OPTIONS lacks %s (%s --help has it)" % (page, opt,
                                                             os.path.basename(binary)))
    for opt in sorted(named - opts):
        problem("%s OPTIONS has %s, which %s --help does not" % (page, opt,
                                                                 os.path.basename(binary)))
    return manual


def check_tool(root, tool):
    manual = check_options(root, "cohort-tool.8", tool)
    text = subprocess.run([tool, "--help"], capture_output=True, text=True).stdout
    helped = {re.split(r"\s{2,}", l.strip())[0] for l in help_block(text, "Commands")}
    documented = {(tag or "").split()[0] for tag, _ in manual.entries("COMMANDS") if tag}
    for name in sorted(helped - documented):
        problem("cohort-tool(8) COMMANDS lacks '%s' (cohort-tool --help lists it)" % name)
    for name in sorted(documented - helped):
        problem("cohort-tool(8) COMMANDS has '%s', which cohort-tool --help does not list" %
                name)
    if not helped:
        problem("cohort-tool --help lists no commands: is it parsed?")


# ---- cohortd.conf(5), data/cohortd.conf, cohort-config.c ----------------------------------


def group_of(name):
    return "host" if name.startswith("host:") else name


def keys_from_code(root):
    found = []
    for dirpath, _, files in os.walk(os.path.join(root, "daemon")):
        if "cohort-config.c" in files:
            found.append(os.path.join(dirpath, "cohort-config.c"))
    if len(found) != 1:
        problem("expected one cohort-config.c under daemon/, found %s" % found)
        return {}
    with open(found[0], encoding="utf-8") as f:
        source = f.read()
    keys = {}
    for m in re.finditer(r"cohort_config_(\w+)_keys\[\]\s*=\s*\{(.*?)\n\};", source, re.S):
        keys[m.group(1)] = set(re.findall(r'\{"(\w+)",\s*COHORT_CONFIG_KIND_', m.group(2)))
    return keys


def keys_from_example(root):
    keys, group = {}, None
    with open(os.path.join(root, "data", "cohortd.conf"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#?\[([\w:-]+)\]\s*$", line)
            if m:
                group = group_of(m.group(1))
                keys.setdefault(group, set())
                continue
            m = re.match(r"^#?(\w+)=", line)
            if m and group is not None:
                keys[group].add(m.group(1))
    return keys


def keys_from_manual(root):
    manual = Manual(os.path.join(root, "docs", "cohortd.conf.5"))
    keys = {}
    for section, entries in manual.sections.items():
        m = re.fullmatch(r"\[([\w:-]+)\]", section)
        if not m:
            continue
        group = group_of(m.group(1).replace("NAME", ""))
        for tag, _ in entries:
            km = re.match(r"(\w+)=", tag or "")
            if km:
                keys.setdefault(group, set()).add(km.group(1))
    return keys


def check_config(root):
    code = keys_from_code(root)
    if not code.get("daemon"):
        problem("no [daemon] key table found in cohort-config.c: is it parsed?")
    sources = {"data/cohortd.conf": keys_from_example(root),
               "cohortd.conf(5)": keys_from_manual(root)}
    for where, keys in sources.items():
        for group in sorted(set(code) | set(keys)):
            have, want = keys.get(group, set()), code.get(group, set())
            for key in sorted(want - have):
                problem("%s lacks [%s] %s (cohort-config.c reads it)" % (where, group, key))
            for key in sorted(have - want):
                problem("%s has [%s] %s, which cohort-config.c does not read" %
                        (where, group, key))


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root, cohortctl, cohortd, tool = sys.argv[1:]
    helped = check_cohortctl(root, cohortctl)
    check_completion(root, cohortctl, helped)
    check_options(root, "cohortd.8", cohortd)
    check_tool(root, tool)
    check_config(root)
    if problems:
        print("%d differences between the manuals and the programs" % len(problems))
        return 1
    print("the manuals and the programs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
