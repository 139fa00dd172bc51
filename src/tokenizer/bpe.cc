#include "tokenizer/bpe.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/core.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace dsx::tok {

// Ids index dense tables, so a corrupt file must not be able to ask for billions of entries.
constexpr int64_t kMaxTokenId = (1 << 24) - 1;

void PairMap::reserve(size_t count) {
  int bits = 4;
  while ((size_t{1} << bits) < count * 2) ++bits;  // load factor <= 1/2 keeps probes short
  slots_.assign(size_t{1} << bits, Slot{kEmpty, {0, 0}});
  shift_ = 64 - bits;
}

size_t PairMap::slot_of(uint64_t key) const {
  return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_);  // Fibonacci hashing
}

void PairMap::insert(int32_t left, int32_t right, Merge merge) {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == kEmpty || slots_[i].key == key) {
      slots_[i] = {key, merge};
      return;
    }
  }
}

const PairMap::Merge* PairMap::find(int32_t left, int32_t right) const {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

std::unique_ptr<Bpe> Bpe::from_json(const nlohmann::json& model, const std::string& file,
                                    bool byte_level) {
  const std::string where = file + ": model";
  auto bpe = std::make_unique<Bpe>();
  bpe->byte_level_ = byte_level;

  // Options that change the algorithm and that byte-level BPE files do not use.
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    if (it != model.end() && !it->is_null() && *it != "") {
      throw Error(where + "." + key + " is not supported");
    }
  }
  if (const auto it = model.find("dropout");
      it != model.end() && !it->is_null() && !(it->is_number() && it->get<double>() == 0.0)) {
    throw Error(where + ".dropout is not supported (encoding must be deterministic)");
  }
  if (model.value("byte_fallback", false)) throw Error(where + ".byte_fallback is not supported");
  bpe->ignore_merges_ = model.value("ignore_merges", false);
  bpe->fuse_unk_ = model.value("fuse_unk", false);

  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) throw Error(where + ".vocab must be an object");
  bpe->vocab_.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId) {
      throw Error(where + ".vocab['" + token + "'] must be an id in [0, " +
                  std::to_string(kMaxTokenId) + "]");
    }
    const auto value = id.get<int32_t>();
    bpe->vocab_[token] = value;
    if (bpe->tokens_.size() <= size_t(value)) bpe->tokens_.resize(value + 1);
    bpe->tokens_[value] = token;
  }

  if (const auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null()) {
    if (!unk->is_string()) throw Error(where + ".unk_token must be a string or null");
    bpe->unk_id_ = bpe->find(unk->get<std::string>());
    if (!bpe->unk_id_)
      throw Error(where + ".unk_token '" + unk->get<std::string>() + "' is not in the vocabulary");
  }

  for (int b = 0; b < 256; ++b) {
    std::string spelling(1, char(b));
    if (byte_level) {
      spelling.clear();
      append_utf8(spelling, byte_to_char(uint8_t(b)));
    }
    bpe->byte_ids_[b] = bpe->find(spelling).value_or(-1);
  }

  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) throw Error(where + ".merges must be a list");
  bpe->merges_.reserve(merges->size());
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const auto& entry = (*merges)[rank];
    const std::string at = where + ".merges[" + std::to_string(rank) + "]";
    std::string left, right;
    if (entry.is_string()) {  // "a b": exactly one space, as HF requires
      const auto& line = entry.get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        throw Error(at + " '" + line + "' must be two tokens separated by one space");
      }
      left = line.substr(0, space), right = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>(), right = entry[1].get<std::string>();
    } else {
      throw Error(at + " must be \"a b\" or [\"a\", \"b\"]");
    }
    const auto l = bpe->find(left), r = bpe->find(right), m = bpe->find(left + right);
    if (!l || !r || !m) {
      const std::string& missing = !l ? left : !r ? right : left + right;
      throw Error(at + ": token '" + missing + "' is not in the vocabulary");
    }
    bpe->merges_.insert(*l, *r, {static_cast<int32_t>(rank), *m});
  }
  return bpe;
}

std::optional<int32_t> Bpe::find(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void Bpe::encode(std::string_view piece, BpeScratch& scratch, std::vector<int32_t>& out) const {
  const bool cacheable = piece.size() <= kCacheMaxPieceBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    const auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  auto& ids = scratch.ids;
  ids.clear();
  std::optional<int32_t> whole;
  if (ignore_merges_) whole = find(byte_level_ ? byte_level_map(piece) : std::string(piece));
  if (whole) {
    ids.push_back(*whole);
  } else {
    symbols_of(piece, scratch);
    merge(scratch);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(piece, ids);
  }
}

// One symbol per byte (byte-level) or per character, as HF's BPE::merge_word builds its Word:
// a character missing from the vocabulary becomes unk_token (runs of them fused into one when
// fuse_unk is set) or, without an unk_token, is dropped.
void Bpe::symbols_of(std::string_view piece, BpeScratch& scratch) const {
  auto& symbols = scratch.symbols;
  symbols.clear();
  bool last_was_unk = false;
  const auto add = [&](int32_t id) {
    const int32_t n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1});
  };
  for (size_t i = 0; i < piece.size();) {
    int32_t id = -1;
    if (byte_level_) {
      id = byte_ids_[static_cast<uint8_t>(piece[i])];
      ++i;
    } else {
      int len = 0;
      decode_utf8(piece, i, &len);
      id = find(piece.substr(i, len)).value_or(-1);
      i += len;
    }
    if (id >= 0) {
      add(id);
      last_was_unk = false;
    } else if (unk_id_) {
      if (!(fuse_unk_ && last_was_unk)) add(*unk_id_);
      last_was_unk = true;
    }
  }
  if (!symbols.empty()) symbols.back().next = -1;
}

void Bpe::merge(BpeScratch& scratch) const {
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  auto& ids = scratch.ids;
  if (symbols.empty()) return;
  // A min-heap on (rank, position): HF's order, so equal pairs merge left to right.
  const auto later = [](const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  heap.clear();
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    if (const auto* m = merges_.find(symbols[i].id, symbols[i + 1].id)) {
      heap.push_back({m->rank, static_cast<int32_t>(i), m->id});
    }
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    auto& left = symbols[top.pos];
    if (left.id < 0 || left.next < 0) continue;
    auto& right = symbols[left.next];
    // The pair may have changed since this candidate was queued: only merge what is still there.
    const auto* current = merges_.find(left.id, right.id);
    if (current == nullptr || current->id != top.id) continue;
    left.id = top.id;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const auto* m = merges_.find(symbols[left.prev].id, left.id)) {
        heap.push_back({m->rank, left.prev, m->id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (left.next >= 0) {
      if (const auto* m = merges_.find(left.id, symbols[left.next].id)) {
        heap.push_back({m->rank, top.pos, m->id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
  // The first symbol is only ever a left side, so it survives and starts the chain.
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace dsx::tok
