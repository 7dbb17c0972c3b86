// The same /api/v1 as cohortctl, with the bearer token kept in sessionStorage (no cookies):
// it is gone when the tab closes.

const TOKEN_KEY = 'cohort.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// One request; resolves to the parsed answer, or rejects with an ApiError carrying the
// API's stable error code ("network" when cohortd could not be reached).
export async function call(method, path, body) {
  const headers = {Accept: 'application/json'};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let answer;
  try {
    answer = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  let data = null;
  const text = await answer.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ApiError(answer.status, 'internal', `not JSON: ${text.slice(0, 200)}`);
    }
  }
  if (!answer.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(answer.status, err.code || 'internal', err.message || answer.statusText);
  }
  return data;
}

export const seg = encodeURIComponent;
