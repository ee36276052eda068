// Write the "text" column of a CSV file (RFC 4180 quoting) as one text per line, with any
// line breaks inside a text turned into spaces, so that both benchmark sides read the same
// texts. Usage: node extract_texts.js in.csv out.txt
'use strict';
const fs = require('fs');

function parseCsv(s) {
  const rows = [];
  let row = [], field = '', i = 0, quoted = false;
  while (i < s.length) {
    const c = s[i];
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r') { i++; continue; }
    if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; continue; }
    field += c; i++;
  }
  if (field.length > 0 || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

const [inPath, outPath] = process.argv.slice(2);
const rows = parseCsv(fs.readFileSync(inPath, 'utf8'));
const col = rows[0].indexOf('text');
if (col < 0) throw new Error(`${inPath}: no "text" column`);
const texts = rows.slice(1).map((r) => (r[col] || '').replace(/[\r\n]+/g, ' '));
fs.writeFileSync(outPath, texts.join('\n') + '\n');
