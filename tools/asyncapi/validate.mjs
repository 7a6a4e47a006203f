// Validates AsyncAPI documents with the official parser (@asyncapi/parser, its default ruleset).
//
//   node tools/asyncapi/validate.mjs docs/asyncapi.yaml [more.yaml ...]
//
// Prints every diagnostic; exits 1 if any document has one of severity error (or cannot be
// read), 0 otherwise. tests/unit/docs/test_asyncapi.py runs it.
import { readFile } from 'node:fs/promises';

// The package is CommonJS: its exports are the default import's properties.
import asyncapiParser from '@asyncapi/parser';

const { Parser, DiagnosticSeverity } = asyncapiParser;
const SEVERITY_NAMES = Object.fromEntries(
  Object.entries(DiagnosticSeverity).map(([name, value]) => [value, name.toLowerCase()]),
);

const paths = process.argv.slice(2);
if (paths.length === 0) {
  process.stderr.write('usage: node validate.mjs <asyncapi.yaml> [...]\n');
  process.exit(2);
}

const parser = new Parser();
let failed = false;
for (const path of paths) {
  let text;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    process.stdout.write(`${path}: cannot be read: ${error.message}\n`);
    failed = true;
    continue;
  }
  // parse validates (the AsyncAPI schema, the spec's rules, every payload schema) and resolves.
  const { document, diagnostics } = await parser.parse(text, { source: path });
  for (const diagnostic of diagnostics) {
    const where = diagnostic.path.join('/') || '(document)';
    const severity = SEVERITY_NAMES[diagnostic.severity] ?? diagnostic.severity;
    process.stdout.write(`${path}: ${severity} ${diagnostic.code} at ${where}: ${diagnostic.message}\n`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  if (errors.length > 0 || document === undefined) {
    failed = true;
  } else {
    process.stdout.write(`${path}: valid AsyncAPI ${document.version()}\n`);
  }
}
process.exit(failed ? 1 : 0);
