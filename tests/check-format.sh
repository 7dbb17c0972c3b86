#!/bin/sh
# The style suite: every C file of ours is as clang-format (../.clang-format) writes it.
set -eu
cd "$1"
find common daemon client tests bench -name '*.[ch]' -print0 2>/dev/null |
    xargs -0 clang-format --dry-run --Werror
