/** A raw HTTP/1.x response (or `wget -S`'s echo of one) read into a status and lower-cased headers. */
export function parseHttpResponse(response: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', ...rest] = response.split(/\r?\n\r?\n/);
  const lines = head.split(/\r?\n/).map((line) => line.trim());
  const statusAt = lines.findIndex((line) => /^HTTP\/\d(\.\d)? \d{3}/.test(line));
  const status = statusAt < 0 ? 0 : Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(lines[statusAt]!)?.[1] ?? 0);
  const headers = Object.fromEntries(
    lines
      .slice(statusAt + 1)
      .filter((line) => line.includes(':'))
      .map((line) => {
        const at = line.indexOf(':');
        return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
      }),
  );
  return { status, headers, body: rest.join('\r\n\r\n') };
}
