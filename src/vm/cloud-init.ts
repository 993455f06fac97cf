// Renders cloud-init/user-data.yaml into the user-data that `labvm up` hands to
// `multipass launch --cloud-init -`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectPath } from '../core/paths.js';
import ssh2 from 'ssh2';
import { parseDocument, Scalar, YAMLMap, YAMLSeq, type Document } from 'yaml';
import { isLoopbackProxy, redactUrl, withProxyHost, type CaCertificate } from '../core/network.js';
import { INSTALL_SCRIPT_PATH, NETWORK_CONFIG_PATH } from './vm-paths.js';

export interface UserDataInput {
  /** The key the tool logs in with, one OpenSSH line: `ssh-ed25519 AAAA... [comment]`. */
  clientPublicKey: string;
  /** The VM's SSH host key pair, in OpenSSH formats (as ssh2's utils.generateKeyPairSync gives). */
  hostKey: { privateKey: string; publicKey: string };
  network: VmNetwork;
}

/** The network settings the VM uses, as core/settings.ts normalized them ("" for no proxy). */
export interface VmNetwork {
  dockerRepository: string;
  dockerKeyFingerprint: string;
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
  caCertificates: CaCertificate[];
}

/**
 * Stands for the VM's default gateway in a proxy URL that named this computer's loopback: the address is known only
 * inside the VM at boot, where install-docker.sh puts it in.
 */
export const GATEWAY_PLACEHOLDER = '{gateway}';

export interface RenderedUserData {
  /** The user-data to pass to Multipass. Holds the host private key: never log or print it. */
  text: string;
  /** The same YAML with the host private key replaced by REDACTED_HOST_PRIVATE_KEY and proxy credentials redacted: safe to print. */
  redacted: string;
}

export const REDACTED_HOST_PRIVATE_KEY = '<redacted: VM host private key>';

const HEADER = '#cloud-config\n';
const TEMPLATE_FILE = 'user-data.yaml';
const SCRIPT_FILE = 'install-docker.sh';

/** Absolute path of the project's cloud-init/ folder (beside dist/, in a checkout and in an installed package). */
export function templateDir(): string {
  return projectPath('cloud-init');
}

export function renderUserData(input: UserDataInput): RenderedUserData {
  const clientPublicKey = checkPublicKey('clientPublicKey', input?.clientPublicKey);
  const host = checkHostKey(input?.hostKey);

  const dir = templateDir();
  const templatePath = join(dir, TEMPLATE_FILE);
  const template = readFileSync(templatePath, 'utf8');
  if (!template.replace(/\r\n/g, '\n').startsWith(HEADER)) {
    throw new Error(`${templatePath} must start with the line "#cloud-config"`);
  }
  // A checkout with Windows line endings must still give the VM a script sh can run.
  const script = readFileSync(join(dir, SCRIPT_FILE), 'utf8').replace(/\r\n/g, '\n');

  const doc = parseDocument(template);
  if (doc.errors.length > 0) {
    throw new Error(`${templatePath} is not valid YAML: ${doc.errors[0]!.message}`);
  }
  const set = (path: readonly unknown[], value: string, type: Scalar.Type) =>
    setScalar(doc, templatePath, path, value, type);
  set(['ssh_authorized_keys', 0], clientPublicKey, Scalar.PLAIN);
  set(['ssh_keys', 'ed25519_public'], host.publicKey, Scalar.PLAIN);
  set(['ssh_keys', 'ed25519_private'], host.privateKey, Scalar.BLOCK_LITERAL);
  set(['write_files', writeFileIndex(doc, templatePath, INSTALL_SCRIPT_PATH), 'content'], script, Scalar.BLOCK_LITERAL);
  const networkPath = ['write_files', writeFileIndex(doc, templatePath, NETWORK_CONFIG_PATH), 'content'];
  set(networkPath, networkConfig(input.network), Scalar.BLOCK_LITERAL);
  setCaCertificates(doc, templatePath, input.network.caCertificates);

  const redactedDoc = doc.clone();
  setScalar(redactedDoc, templatePath, ['ssh_keys', 'ed25519_private'], REDACTED_HOST_PRIVATE_KEY, Scalar.PLAIN);
  setScalar(redactedDoc, templatePath, networkPath, redactUrl(networkConfig(input.network)), Scalar.BLOCK_LITERAL);

  return { text: stringify(doc), redacted: stringify(redactedDoc) };
}

function stringify(doc: Document): string {
  // lineWidth 0: no folding, so keys and script lines stay exactly one line each.
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  if (!text.startsWith(HEADER)) throw new Error('rendered user-data lost its #cloud-config header');
  return text;
}

// Only fills slots the template already has: a renamed or missing slot is a template bug,
// and silently adding a key elsewhere would hide it.
function setScalar(
  doc: Document,
  templatePath: string,
  path: readonly unknown[],
  value: string,
  type: Scalar.Type,
): void {
  const node = doc.getIn(path, true);
  if (!(node instanceof Scalar)) {
    throw new Error(`${templatePath} has no value at ${path.join('.')} for labvm to fill in`);
  }
  node.value = value;
  node.type = type;
}

function writeFileIndex(doc: Document, templatePath: string, path: string): number {
  const files = doc.get('write_files', true);
  const index =
    files instanceof YAMLSeq
      ? files.items.findIndex((item) => item instanceof YAMLMap && item.get('path') === path)
      : -1;
  if (index < 0) throw new Error(`${templatePath} has no write_files entry for ${path}`);
  return index;
}

/**
 * The certificates go in the template's ca_certs.trusted list, one PEM block each. cloud-init refuses an empty
 * list, so without certificates the ca_certs key goes: the system's trust store is then left as it is.
 */
function setCaCertificates(doc: Document, templatePath: string, certificates: readonly CaCertificate[]): void {
  const trusted = doc.getIn(['ca_certs', 'trusted'], true);
  if (!(trusted instanceof YAMLSeq))
    throw new Error(`${templatePath} has no ca_certs.trusted list for labvm to fill in`);
  if (certificates.length === 0) {
    doc.delete('ca_certs');
    return;
  }
  trusted.items = certificates.map(({ pem }) => Object.assign(new Scalar(pem), { type: Scalar.BLOCK_LITERAL }));
}

/**
 * The settings install-docker.sh reads, as sh assignments. Every value is normalized to URL-safe characters
 * (core/network.ts), so single quotes hold it as it is. A proxy on this computer's loopback is written with
 * GATEWAY_PLACEHOLDER as its host.
 */
export function networkConfig(network: VmNetwork): string {
  const proxy = (url: string) => (isLoopbackProxy(url) ? withProxyHost(url, GATEWAY_PLACEHOLDER) : url);
  const values: Array<[string, string]> = [
    ['LABVM_DOCKER_REPOSITORY', network.dockerRepository],
    ['LABVM_DOCKER_KEY_FINGERPRINT', network.dockerKeyFingerprint],
    ['LABVM_HTTP_PROXY', proxy(network.httpProxy)],
    ['LABVM_HTTPS_PROXY', proxy(network.httpsProxy)],
    ['LABVM_NO_PROXY', network.noProxy],
  ];
  for (const [name, value] of values)
    if (/['\\\n]/.test(value)) throw new Error(`${name} holds a character it cannot be passed on with`);
  return values.map(([name, value]) => `${name}='${value}'\n`).join('');
}

const ED25519_PUBLIC_LINE = /^ssh-ed25519 AAAA[A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/;
const OPENSSH_PRIVATE_BLOCK =
  /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----$/;

// Error messages never quote the given value: it might be private key material.
function checkPublicKey(name: string, key: unknown): string {
  const line = typeof key === 'string' ? key.trim() : '';
  const parsed = ED25519_PUBLIC_LINE.test(line) ? ssh2.utils.parseKey(line) : undefined;
  if (!parsed || parsed instanceof Error || parsed.isPrivateKey()) {
    throw new Error(`${name} must be one OpenSSH ed25519 public key line ("ssh-ed25519 AAAA...")`);
  }
  return line;
}

function checkHostKey(hostKey: unknown): { privateKey: string; publicKey: string } {
  if (typeof hostKey !== 'object' || hostKey === null) {
    throw new Error('hostKey must be an object with privateKey and publicKey');
  }
  const { privateKey: rawPrivate, publicKey: rawPublic } = hostKey as Record<string, unknown>;
  const publicKey = checkPublicKey('hostKey.publicKey', rawPublic);
  const privateKey = typeof rawPrivate === 'string' ? rawPrivate.replace(/\r\n/g, '\n').trim() : '';
  if (!OPENSSH_PRIVATE_BLOCK.test(privateKey)) {
    throw new Error('hostKey.privateKey must be an OpenSSH private key block ("-----BEGIN OPENSSH PRIVATE KEY-----")');
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) {
    // sshd cannot use a passphrase-protected host key, so an encrypted key lands here too.
    throw new Error(`hostKey.privateKey could not be read as an unencrypted key: ${parsed.message}`);
  }
  if (!parsed.isPrivateKey() || parsed.type !== 'ssh-ed25519') {
    throw new Error('hostKey.privateKey must be an ed25519 private key');
  }
  const publicBlob = Buffer.from(publicKey.split(' ')[1]!, 'base64');
  if (!parsed.getPublicSSH().equals(publicBlob)) {
    // The tool pins hostKey.publicKey; a pair that doesn't match would lock it out of the VM.
    throw new Error('hostKey.publicKey does not belong to hostKey.privateKey');
  }
  return { privateKey: `${privateKey}\n`, publicKey };
}
