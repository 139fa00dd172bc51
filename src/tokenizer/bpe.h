// The BPE model of tokenizer.json: vocabulary, ranked merges, and HF's merge order (always the
// lowest-ranked adjacent pair, leftmost on ties), with a bounded cache of finished pieces.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsx::tok {

// Open-addressing map from a pair of token ids to its merge (rank, merged id): the lookup in
// BPE's inner loop, so it avoids the node allocations and modulo of std::unordered_map.
class PairMap {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t count);
  void insert(int32_t left, int32_t right, Merge merge);  // replaces an existing entry
  const Merge* find(int32_t left, int32_t right) const;

 private:
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // no pair of non-negative ids packs to this
  size_t slot_of(uint64_t key) const;
  std::vector<Slot> slots_;
  int shift_ = 64;
};

// Buffers one encode call reuses across pieces.
struct BpeScratch {
  struct Symbol {
    int32_t id;  // -1 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, pos, id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<int32_t> ids;
};

class Bpe {
 public:
  // `model` is the "model" object of tokenizer.json. byte_level: pieces arrive as raw bytes to be
  // spelled in the byte-level alphabet; otherwise each UTF-8 character is looked up as it is.
  static std::unique_ptr<Bpe> from_json(const nlohmann::json& model, const std::string& file,
                                        bool byte_level);

  // Appends the ids of one piece to out.
  void encode(std::string_view piece, BpeScratch& scratch, std::vector<int32_t>& out) const;

  std::optional<int32_t> find(std::string_view token) const;
  // Number of vocabulary entries (not the largest id + 1: HF numbers new added tokens from it).
  size_t size() const { return vocab_.size(); }
  // Token strings by id as tokenizer.json spells them; ids the vocabulary skips are empty.
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, Hash, std::equal_to<>>;

  void symbols_of(std::string_view piece, BpeScratch& scratch) const;
  void merge(BpeScratch& scratch) const;

  StringMap vocab_;
  std::vector<std::string> tokens_;
  PairMap merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of each byte's one-character token, or -1
  bool byte_level_ = true;
  bool ignore_merges_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;

  // Finished pieces, keyed by their raw bytes. Bounded: emptied when full, which costs a
  // few re-merges of common words but never grows without limit on adversarial input.
  static constexpr size_t kCacheEntries = 1 << 16;
  static constexpr size_t kCacheMaxPieceBytes = 128;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> cache_;
};

}  // namespace dsx::tok
