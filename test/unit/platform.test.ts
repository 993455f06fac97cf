import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  currentPlatform,
  hasPosixModes,
  multipassDaemonHint,
  multipassExecutable,
  multipassInstallHint,
} from '../../src/core/platform.js';
import { withPlatform } from './helpers.js';

describe('multipassInstallHint', () => {
  it('names Homebrew on macOS', () => {
    const hint = multipassInstallHint('darwin');
    assert.match(hint, /`brew install --cask multipass`/);
    assert.doesNotMatch(hint, /winget|snap/);
  });

  it('names winget on Windows', () => {
    const hint = multipassInstallHint('win32');
    assert.match(hint, /`winget install Canonical\.Multipass`/);
    assert.doesNotMatch(hint, /brew|snap/);
  });

  it('names snap on Linux, and on other Unix-likes', () => {
    for (const platform of ['linux', 'freebsd'] as const) {
      const hint = multipassInstallHint(platform);
      assert.match(hint, /`sudo snap install multipass`/);
      assert.doesNotMatch(hint, /brew|winget/);
    }
  });

  it('ends each hint with how to check the install', () => {
    for (const platform of ['darwin', 'win32', 'linux'] as const)
      assert.match(multipassInstallHint(platform), /`multipass version`\.$/);
  });
});

describe('multipassDaemonHint', () => {
  it('tells how to start the daemon on each platform', () => {
    assert.match(multipassDaemonHint('darwin'), /launchctl kickstart -k system\/com\.canonical\.multipassd/);
    assert.match(multipassDaemonHint('win32'), /`Start-Service Multipass`/);
    assert.match(multipassDaemonHint('linux'), /`sudo snap start multipass`/);
  });

  it('gives different advice on each platform', () => {
    const hints = new Set((['darwin', 'win32', 'linux'] as const).map((platform) => multipassDaemonHint(platform)));
    assert.equal(hints.size, 3);
  });
});

describe('hasPosixModes', () => {
  it('is false on Windows only', () => {
    assert.equal(hasPosixModes('win32'), false);
    assert.equal(hasPosixModes('linux'), true);
    assert.equal(hasPosixModes('darwin'), true);
  });
});

describe('multipassExecutable', () => {
  it('honours LABVM_MULTIPASS on every platform', () => {
    for (const platform of ['darwin', 'win32', 'linux'] as const) {
      assert.equal(
        multipassExecutable({ LABVM_MULTIPASS: '/opt/double/multipass' }, platform),
        '/opt/double/multipass',
      );
    }
  });

  it('runs multipass.exe on Windows and multipass elsewhere', () => {
    assert.equal(multipassExecutable({}, 'win32'), 'multipass.exe');
    assert.equal(multipassExecutable({}, 'linux'), 'multipass');
    assert.equal(multipassExecutable({}, 'darwin'), 'multipass');
  });

  it('ignores an empty LABVM_MULTIPASS', () => {
    assert.equal(multipassExecutable({ LABVM_MULTIPASS: '' }, 'linux'), 'multipass');
  });
});

describe('defaults follow process.platform', () => {
  it('uses the stubbed platform when none is passed', async () => {
    await withPlatform('win32', () => {
      assert.equal(currentPlatform(), 'win32');
      assert.equal(hasPosixModes(), false);
      assert.equal(multipassExecutable({}), 'multipass.exe');
      assert.match(multipassInstallHint(), /winget/);
      assert.match(multipassDaemonHint(), /Start-Service/);
    });
    await withPlatform('darwin', () => {
      assert.equal(hasPosixModes(), true);
      assert.equal(multipassExecutable({}), 'multipass');
      assert.match(multipassInstallHint(), /brew/);
    });
  });

  it('restores the real platform afterwards', async () => {
    const real = process.platform;
    await withPlatform(real === 'win32' ? 'linux' : 'win32', () => undefined);
    assert.equal(process.platform, real);
    assert.equal(currentPlatform(), real);
  });
});
