// Regenerates the reference data in this folder with Hugging Face `tokenizers` (its Node
// binding, which ships the same Rust core as the Python package):
//   npm install tokenizers && node make_goldens.js   (run from this folder)
// Writes
//   fuzz.jsonl      random mixed-script strings, DeepSeek-V3 ids, and decodes of random ids
//   variants.json   pre-tokenizer / added-token / model variants of the demo-coder tokenizer
//   heldout.json    id count and FNV-1a hash of models/demo-coder/heldout.txt for both tokenizers
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const ROOT = path.resolve(__dirname, '../../..');
const V3 = path.join(ROOT, 'tests/data/tokenizer-deepseek-v3/tokenizer.json');
const CODER = path.join(ROOT, 'models/demo-coder/tokenizer.json');

// mulberry32: a small seeded generator, so reruns give the same strings.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20250601);
const pick = (a) => a[Math.floor(rand() * a.length)];
const range = (lo, hi) => String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));

const ATOMS = [
  // ASCII words, numbers, punctuation, code
  () => pick(['hello', 'World', 'the', 'DeepSeek', 'x', 'I', 'fooBar', 'snake_case', 'HTTP2', 'a1b2']),
  () => String(Math.floor(rand() * 1e9)).slice(0, 1 + Math.floor(rand() * 9)),
  () => pick(['.', ',', '!', '?', ';', ':', '...', '->', '=>', '==', '!=', '+=', '&&', '||', '::', '#', '@', '$', '%', '^', '*', '(', ')', '[]', '{}', '<', '>', '/', '\\', '|', '`', '~', '"', "'", '-', '_']),
  () => pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "’s", "n't"]),
  () => pick(['def f(x):\n    return x\n', 'int main() {\n\treturn 0;\n}\n', 'for i in range(10):', '#include <stdio.h>', 'a[i] = b[i] * 2;', '<div class="x">', '$x = 1;', 'SELECT * FROM t;']),
  // white space of every kind, in runs
  () => pick([' ', '  ', '    ', '\t', '\n', '\n\n', '\r\n', '\r', ' \n ', '\v', '\f', '\u0085', '\u00a0', '\u1680', '\u2003', '\u2009', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u200b', '\ufeff', '\u180e', '\u001c', '\u001f']).repeat(1 + Math.floor(rand() * 3)),
  // CJK inside and outside the pre-tokenizer's ranges, kana, hangul
  () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => range(0x4e00, 0x9fa5)).join(''),
  () => Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick([range(0x3040, 0x309f), range(0x30a0, 0x30ff), range(0xff66, 0xff9d), range(0x3400, 0x4dbf), range(0x9fa6, 0x9fff), range(0x20000, 0x2a6df), range(0xac00, 0xd7a3), '〜', '・', 'ー', '。', '、'])).join(''),
  // other scripts, marks, digits that are not 0-9
  () => pick(['Привет', 'Ελληνικά', 'مرحبا', 'שלום', 'नमस्ते', 'ภาษาไทย', 'café', 'naïve', 'Straße', 'ǅemal', 'ʰello', 'e\u0301', 'a\u0308\u0304', 'ﬁ', 'Ⅻ', '½', '²', '①', '１２３', '٣٤', '০১', '𝔸𝔹', '𝟙𝟚']),
  // characters newer than Unicode 14 (PCRE2 10.42's tables): new emoji, CJK Ext H/I, scripts
  () => pick(['🫨', '🩷', '🪿', '🫎', '\u{31350}\u{31351}', '\u{2EBF0}', '᭎', 'Ᲊᲊ', '\u{1E4D0}\u{1E4D1}', '\u{11F04}\u{11F05}', '𝋀', '\u0897', '⿼']),
  // symbols and emoji
  () => pick(['©', '€', '∑', '→', '™', '°C', '😀', '👍🏽', '👨‍👩‍👧', '🇺🇸', '❤️', '🤖', '✓', '♪', '\u{1F600}\u{1F601}']),
  // added tokens written inline, and fragments of them
  () => pick(['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>', '<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>', '<|EOT|>', '<｜tool▁sep｜>', '<｜', '<｜User', '｜>', '<|EOT|', '<<｜User｜>>', '<｜▁pad▁｜>']),
];

function fuzzString() {
  const n = 1 + Math.floor(rand() * 24);
  let s = '';
  for (let i = 0; i < n; ++i) s += pick(ATOMS)();
  return s;
}

async function encode(tok, text) {
  const enc = await tok.encode(text, null, { addSpecialTokens: false });
  return Array.from(enc.getIds());
}

function fnv1a(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids) {
    for (let k = 0; k < 4; ++k) {
      h ^= BigInt((id >>> (8 * k)) & 0xff);
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
  }
  return h.toString(16).padStart(16, '0');
}

// Text cases every variant is checked on.
const VARIANT_TEXTS = [
  'hello world', ' hello  world ', 'Hello, World!', 'abc123def 4567', '  leading', 'trailing   ',
  'a\n\nb\r\n c', "it's don't I'll", 'x=1;y=22;z=333', '中文测试 and ひらがな', '😀 emoji 👍🏽',
  'foo bar foobar barfoo foo_bar', '<mask> <mask>x x<mask>', 'ab abc abcd', '[MSK]', 'a  [MSK]  b',
  '<｜User｜>hi<｜Assistant｜>', 'end  <eot>  next', 'snake_case_name', '',
];

const VARIANTS = [
  { name: 'bytelevel_prefix_regex', patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } } },
  { name: 'bytelevel_regex', patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } } },
  { name: 'bytelevel_only', patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false } } },
  { name: 'split_prefix_each_piece', patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Removed', invert: false },
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: false }] } } },
  ...['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'].flatMap((behavior) =>
    [false, true].map((invert) => ({
      name: `split_${behavior}_${invert ? 'inverted' : 'plain'}`,
      patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\d|\\s' }, behavior, invert },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] } },
    }))),
  { name: 'split_string_pattern', patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { String: 'o' }, behavior: 'MergedWithNext', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] } } },
  { name: 'split_empty_matches', patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { Regex: 'x*' }, behavior: 'Isolated', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] } } },
  { name: 'added_token_flags', patch: { added_tokens_extra: [
    { id: 8192, content: '<mask>', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
    { id: 8193, content: 'foo', single_word: true, lstrip: false, rstrip: false, normalized: true, special: false },
    { id: 8194, content: '[MSK]', single_word: false, lstrip: true, rstrip: true, normalized: true, special: true },
    { id: 8195, content: 'ab', single_word: false, lstrip: false, rstrip: false, normalized: false, special: false },
    { id: 8196, content: 'abc', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    { id: 8197, content: 'abcd', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    { id: 8198, content: '<eot>', single_word: false, lstrip: false, rstrip: true, normalized: false, special: false }] } },
  { name: 'ignore_merges', patch: { model: { ignore_merges: true } } },
  { name: 'no_pre_tokenizer', patch: { pre_tokenizer: null } },
  { name: 'no_pre_tokenizer_unk', patch: { pre_tokenizer: null, model: { unk_token: '<｜▁pad▁｜>', fuse_unk: false } } },
  { name: 'no_pre_tokenizer_unk_fused', patch: { pre_tokenizer: null, model: { unk_token: '<｜▁pad▁｜>', fuse_unk: true } } },
];

function applyPatch(base, patch) {
  const out = JSON.parse(JSON.stringify(base));
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'model') Object.assign(out.model, value);
    else if (key === 'added_tokens_extra') out.added_tokens.push(...value);
    else out[key] = value;
  }
  return out;
}

async function main() {
  const v3 = Tokenizer.fromFile(V3);
  const v3Size = 128815;
  const lines = [];
  for (let i = 0; i < 1500; ++i) {
    const text = fuzzString();
    lines.push(JSON.stringify({ text, ids: await encode(v3, text) }));
  }
  // Decoding random ids, byte tokens included, exercises U+FFFD placement and skip_special.
  const byteTokens = [];
  for (const [tok, id] of Object.entries(v3.getVocab(false))) if ([...tok].length === 1) byteTokens.push(id);
  for (let i = 0; i < 300; ++i) {
    const ids = Array.from({ length: 1 + Math.floor(rand() * 12) }, () =>
      rand() < 0.5 ? pick(byteTokens) : rand() < 0.9 ? Math.floor(rand() * v3Size) : pick([0, 1, 2, 128801, 128805, 128803]));
    lines.push(JSON.stringify({ ids, decoded: await v3.decode(ids, false), decoded_skip: await v3.decode(ids, true) }));
  }
  fs.writeFileSync(path.join(__dirname, 'fuzz.jsonl'), lines.join('\n') + '\n');

  const coderJson = JSON.parse(fs.readFileSync(CODER, 'utf8'));
  const variants = [];
  for (const v of VARIANTS) {
    const tok = Tokenizer.fromString(JSON.stringify(applyPatch(coderJson, v.patch)));
    const texts = [...VARIANT_TEXTS, ...Array.from({ length: 20 }, fuzzString)];
    const cases = [];
    for (const text of texts) cases.push({ text, ids: await encode(tok, text) });
    variants.push({ name: v.name, patch: v.patch, cases });
  }
  fs.writeFileSync(path.join(__dirname, 'variants.json'), JSON.stringify(variants) + '\n');

  const heldout = fs.readFileSync(path.join(ROOT, 'models/demo-coder/heldout.txt'), 'utf8');
  const summary = {};
  for (const [name, file] of [['deepseek-v3', V3], ['demo-coder', CODER]]) {
    const ids = await encode(Tokenizer.fromFile(file), heldout);
    summary[name] = { count: ids.length, fnv1a64: fnv1a(ids) };
  }
  fs.writeFileSync(path.join(__dirname, 'heldout.json'), JSON.stringify(summary, null, 1) + '\n');
}

main();
