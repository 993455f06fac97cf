import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errorMessage, usageError } from '../core/errors.js';
import { labvmVersion } from '../core/paths.js';
import { readSavedReport, type SavedReport } from '../report/saved.js';
import { checkReportFile, saveMarkdown } from './exercise.js';

export interface ReportCommandOptions {
  markdown?: string;
  /** Overwrite an existing Markdown file. */
  force?: boolean;
}

export interface ReportResult extends SavedReport {
  file: string;
  markdownFile?: string;
}

/** `labvm report FILE.json`: a saved run, re-explained by this labvm from its evidence. */
export async function report(file: string | undefined, options: ReportCommandOptions): Promise<ReportResult> {
  if (!file)
    throw usageError(
      'No report file given.',
      'Run `labvm report FILE.json` with a file written by `labvm exercise --json`.',
    );
  const path = resolve(file);
  const markdownFile =
    options.markdown === undefined ? undefined : await checkReportFile(options.markdown, !!options.force, '--markdown');
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw usageError(
      `Cannot read ${path}: ${errorMessage(error)}.`,
      'Pass the path of a file written by `labvm exercise --json`.',
    );
  });
  const saved = readSavedReport(text, path, labvmVersion());
  if (markdownFile)
    await saveMarkdown(markdownFile, saved.report, `Or run \`labvm report ${file}\` without --markdown.`);
  return { ...saved, file: path, markdownFile };
}
