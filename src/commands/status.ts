import { errorMessage } from '../core/errors.js';
import { InstanceState } from '../core/state.js';
import { validateInstanceName } from '../core/validate.js';
import { connectToInstance } from '../vm/instance.js';
import { Multipass } from '../vm/multipass.js';
import { cloudInitStatus, dockerVersion, type CloudInitStatus } from '../vm/readiness.js';

export interface StatusReport {
  name: string;
  /** Multipass's state, or "absent" when no instance has the name. */
  state: string;
  managedByLabvm: boolean;
  ipv4: string | null;
  release: string | null;
  cloudInit: CloudInitStatus | null;
  docker: { reachable: boolean; version: string | null; error: string | null };
  stateDir: string | null;
  /** How the SSH connection reached the VM (direct, or through `multipass exec`); null when not connected. */
  sshPath: string | null;
}

export async function status(name: string, multipass = new Multipass()): Promise<StatusReport> {
  validateInstanceName(name);
  const state = new InstanceState(name);
  const [info, record] = await Promise.all([multipass.info(name), state.readRecord()]);
  const report: StatusReport = {
    name,
    state: info?.state ?? 'absent',
    managedByLabvm: !!record,
    ipv4: info?.ipv4 ?? null,
    release: info?.release || null,
    cloudInit: null,
    docker: { reachable: false, version: null, error: null },
    stateDir: record ? state.dir : null,
    sshPath: null,
  };
  if (!record || info?.state !== 'Running' || !info.ipv4) return report;

  try {
    const remote = await connectToInstance(state, record, info.ipv4, 10_000, multipass);
    report.sshPath = remote.path;
    try {
      report.cloudInit = (await cloudInitStatus(remote)).status;
      report.docker = { reachable: true, version: await dockerVersion(remote), error: null };
    } finally {
      remote.close();
    }
  } catch (error) {
    report.docker.error = errorMessage(error);
  }
  return report;
}
