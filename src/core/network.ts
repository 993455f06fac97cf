import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { errorMessage, usageError } from './errors.js';

/**
 * The network settings' values (core/settings.ts resolves them): the Docker repository and its key, the proxies and
 * the extra CA certificates the VM must use on a school's network. Each parser checks a value and gives the
 * normalized form that the user-data carries; a bad value is a usage error naming `what` (the setting and where it
 * came from). Proxy URLs may hold credentials: messages show them through redactUrl only.
 */

/** What stands in a proxy URL's place of credentials wherever labvm shows it. */
export const REDACTED = 'REDACTED';

/**
 * Characters a normalized URL may hold. Percent-encoding covers the rest, so a value goes into sh, systemd and apt
 * configuration inside single or double quotes as it is.
 */
const URL_TEXT = /^[A-Za-z0-9._~:/%+@[\]-]+$/;

function parseUrl(value: string, what: string, example: string): URL {
  try {
    return new URL(value.trim());
  } catch {
    throw usageError(`The ${what} "${redactUrl(value)}" is not a URL.`, `Give a URL such as ${example}.`);
  }
}

/**
 * A Docker repository (download.docker.com or a mirror keeping its layout below the URL): http(s), no credentials
 * (apt's sources, which every user of the VM can read, hold it), no query. Normalized without a trailing slash.
 */
export function parseRepositoryUrl(value: string, what: string): string {
  const example = 'https://download.docker.com or https://mirror.school.example/docker';
  const url = parseUrl(value, what, example);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw usageError(
      `The ${what} "${redactUrl(value)}" must be an https:// or http:// URL.`,
      `Give a URL such as ${example}.`,
    );
  if (url.username || url.password)
    throw usageError(
      `The ${what} holds credentials ("${redactUrl(value)}"); labvm does not pass them on.`,
      "apt's sources in the VM are readable by every user there: use a mirror that needs no login.",
    );
  if (url.search || url.hash)
    throw usageError(
      `The ${what} "${value}" has a query or fragment.`,
      `Give the repository's base URL, such as ${example}.`,
    );
  const normalized = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  if (!URL_TEXT.test(normalized))
    throw usageError(
      `The ${what} "${value}" holds characters labvm does not pass on.`,
      `Give a URL such as ${example}.`,
    );
  return normalized;
}

/** An OpenPGP fingerprint as gpg prints it (spaces and a 0x allowed): 40 hex digits (v4 key) or 64 (v5). */
export function parseFingerprint(value: string, what: string): string {
  const hex = value.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  if (!/^([0-9A-F]{40}|[0-9A-F]{64})$/.test(hex))
    throw usageError(
      `The ${what} "${value}" is not a full key fingerprint.`,
      'Give the 40 hex digits that `gpg --show-keys KEYFILE` prints (spaces allowed); a short key ID is not enough.',
    );
  return hex;
}

/** The word that, as a proxy setting, means "no proxy" (even when this computer has HTTPS_PROXY). */
export const NO_PROXY_WORD = 'none';

/**
 * A proxy URL: http:// (or https://) host and port, optional user:password. "host:port" alone means http://.
 * Normalized with the credentials strictly percent-encoded and nothing after the port; "none" gives "".
 */
export function parseProxyUrl(value: string, what: string): string {
  const text = value.trim();
  if (text.toLowerCase() === NO_PROXY_WORD) return '';
  const example = 'http://proxy.school.example:3128 or http://user:password@proxy.school.example:3128';
  const url = parseUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`, what, example);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usageError(
      `The ${what} "${redactUrl(text)}" must be an http:// proxy URL (apt and Docker do not use ${url.protocol.slice(0, -1)} proxies).`,
      `Give a URL such as ${example}.`,
    );
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw usageError(
      `The ${what} "${redactUrl(text)}" must be only a proxy's address.`,
      `Give a URL such as ${example}.`,
    );
  const credentials =
    url.username || url.password ? `${strictEncode(url.username)}:${strictEncode(url.password)}@` : '';
  const normalized = `${url.protocol}//${credentials}${url.host}`;
  if (!URL_TEXT.test(normalized))
    throw usageError(
      `The ${what} "${redactUrl(text)}" holds characters labvm does not pass on.`,
      `Give a URL such as ${example}.`,
    );
  return normalized;
}

/** Percent-encodes all but letters, digits and -._~ (URL userinfo as given may hold ' ! * ( ) $ &). */
function strictEncode(component: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(component);
  } catch {
    decoded = component;
  }
  return encodeURIComponent(decoded).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A text with the user:password of any URL in it replaced by REDACTED; also a proxy given without its scheme
 * ("user:password@host:port"). Greedy up to the last @ before a slash or a blank, as URL parsers read it.
 */
export function redactUrl(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/]*@/gi, `$1${REDACTED}@`)
    .replace(/^(\s*)(?![a-z][a-z0-9+.-]*:\/\/)[^\s/]*@/i, `$1${REDACTED}@`);
}

/** The user:password of a normalized proxy URL, in the forms a text may show them (as given, and decoded). */
export function proxySecrets(url: string): string[] {
  const userinfo = /^[a-z]+:\/\/([^@/]+)@/i.exec(url)?.[1];
  if (!userinfo) return [];
  const password = userinfo.slice(userinfo.indexOf(':') + 1);
  const forms = [userinfo, password];
  for (const form of [userinfo, password]) {
    try {
      forms.push(decodeURIComponent(form));
    } catch {
      // not percent-encoded text: the form as given is enough
    }
  }
  return [...new Set(forms.filter((form) => form.length >= 3))];
}

/** The host of a proxy URL that is this computer's loopback, which the VM reaches at its gateway instead. */
export function isLoopbackProxy(url: string): boolean {
  if (!url) return false;
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || host === '0.0.0.0' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The same URL with its host replaced by `host` (the port and credentials kept). */
export function withProxyHost(url: string, host: string): string {
  const parsed = new URL(url);
  const credentials = /^[a-z]+:\/\/([^@/]+@)/i.exec(url)?.[1] ?? '';
  return `${parsed.protocol}//${credentials}${host}${parsed.port ? `:${parsed.port}` : ''}`;
}

/**
 * NO_PROXY: hosts, .domains, IP addresses or CIDR ranges, separated by commas (or spaces), "*" for all. Normalized
 * comma-separated, without blanks.
 */
export function parseNoProxy(value: string, what: string): string {
  const entries = value
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter(Boolean);
  const bad = entries.find(
    (entry) => !/^(\*|\*?\.?[A-Za-z0-9_.:-]+(\/\d{1,3})?|\[[0-9A-Fa-f:.]+\](:\d+)?)$/.test(entry),
  );
  if (bad !== undefined)
    throw usageError(
      `The ${what} has an entry labvm cannot pass on: "${bad}".`,
      'List hosts, .domains, IP addresses or CIDR ranges separated by commas, e.g. localhost,.school.example,10.0.0.0/8.',
    );
  return entries.join(',');
}

/** The variables this computer's tools read for each proxy setting, lower case first (as curl does). */
export const LAPTOP_PROXY_VARIABLES = {
  httpProxy: ['http_proxy', 'HTTP_PROXY'],
  httpsProxy: ['https_proxy', 'HTTPS_PROXY'],
  noProxy: ['no_proxy', 'NO_PROXY'],
} as const;

export interface CaCertificate {
  /** The file it came from. */
  file: string;
  subject: string;
  /** One PEM block, LF line endings. */
  pem: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Reads and checks each file: it must hold one or more PEM certificates (a bundle is fine), each valid and not
 * expired. Anything else is a usage error naming the file, before anything runs.
 */
export function readCaCertificates(files: readonly string[], what: string, now = new Date()): CaCertificate[] {
  return files.flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw usageError(`The ${what} file ${file} cannot be read: ${errorMessage(error)}.`, 'Check the path.');
    }
    const blocks = text.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0)
      throw usageError(
        `The ${what} file ${file} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block).`,
        `Give the CA's certificate in PEM form; a DER file converts with \`openssl x509 -inform der -in ${basename(file)} -out ca.pem\`.`,
      );
    return blocks.map((block) => {
      const pem = `${block.replace(/\r\n/g, '\n')}\n`;
      let certificate: X509Certificate;
      try {
        certificate = new X509Certificate(pem);
      } catch (error) {
        throw usageError(
          `The ${what} file ${file} holds a block that is not a valid certificate: ${errorMessage(error)}.`,
          "Give the CA's certificate in PEM form, as your network's administrators or the mirror publish it.",
        );
      }
      if (new Date(certificate.validTo) < now)
        throw usageError(
          `The ${what} file ${file} holds a certificate that expired on ${certificate.validTo} (${certificate.subject.replace(/\n/g, ', ')}).`,
          "Ask for the CA's current certificate.",
        );
      return { file, subject: certificate.subject.replace(/\n/g, ', '), pem };
    });
  });
}
