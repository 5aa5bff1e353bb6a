// Keyset pages: the API answers a JSON list and the next page's cursor in `X-Next-Cursor`.

export interface Page<T> {
  items: T[];
  next: string | null;
}

export function nextCursor(response: Response): string | null {
  return response.headers.get("X-Next-Cursor");
}
