#!/usr/bin/env node
// Lists functions longer than --max-lines (default 80) and source files longer than --max-file
// (default 500) under the given folders (default src), using the TypeScript parser.
// Exit 1 when any exceed. Usage: node bench/tools/function-lengths.mjs [--max-lines N] [--max-file N] [dir...]
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
let maxLines = 80;
let maxFile = 500;
const dirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--max-lines') maxLines = Number(args[++i]);
  else if (args[i] === '--max-file') maxFile = Number(args[++i]);
  else dirs.push(args[i]);
}
if (dirs.length === 0) dirs.push('src');

function* walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

function nameOf(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name && ts.isPrivateIdentifier?.(node.name)) return node.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
  return '<anonymous>';
}

const long = [];
const bigFiles = [];
for (const dir of dirs) {
  for (const file of walk(dir)) {
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n').length;
    if (lines > maxFile) bigFiles.push({ file, lines });
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (
        (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) ||
          ts.isFunctionExpression(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessor(node)) &&
        node.body
      ) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.end).line;
        const n = end - start + 1;
        if (n > maxLines) long.push({ file, line: start + 1, name: nameOf(node), lines: n });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
}
long.sort((a, b) => b.lines - a.lines);
for (const f of long) console.log(`${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}`);
for (const f of bigFiles) console.log(`file ${String(f.lines).padStart(4)}  ${f.file}`);
console.log(`${long.length} functions over ${maxLines} lines, ${bigFiles.length} files over ${maxFile} lines`);
process.exit(long.length + bigFiles.length > 0 ? 1 : 0);
