// The two forms of MLA (model.h, ForwardBatch): absorbed over the latent cache, and expanded into
// per-head keys and values for runs of prompt rows. They are the same attention in a different
// grouping of float32 operations, so they agree to rounding; and each form on its own gives the
// same bits for a row however the rows around it are batched, which is what keeps a prompt's
// result independent of the crowd it is served in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/engine.h"

namespace dsx::test {
namespace {

const std::string kModels = DSX_MODELS_DIR;

std::vector<int32_t> prompt_of(int length, int salt) {
  std::vector<int32_t> p;
  for (int i = 0; i < length; ++i) p.push_back((i * 7919 + 13 * salt) % 1000 + 3);
  return p;
}

// Runs the pieces in order, each as one forward pass over its rows; returns every row's logits.
struct Piece {
  int32_t seq;
  std::vector<int32_t> tokens;
  int32_t first;  // position of tokens[0]
  bool expandable = true;
};

std::vector<std::vector<float>> run_pass(const Model& model, LatentCache& cache, ThreadPool& pool,
                                         const std::vector<Piece>& pieces, AttentionForm form,
                                         int64_t expanded_floats = int64_t{1} << 24) {
  std::vector<int32_t> tokens, positions, seqs, rows;
  std::vector<uint8_t> expandable;
  for (const Piece& p : pieces) {
    EXPECT_TRUE(cache.reserve(p.seq, p.first + static_cast<int64_t>(p.tokens.size())));
    for (size_t i = 0; i < p.tokens.size(); ++i) {
      rows.push_back(static_cast<int32_t>(tokens.size()));
      tokens.push_back(p.tokens[i]);
      positions.push_back(p.first + static_cast<int32_t>(i));
      seqs.push_back(p.seq);
      expandable.push_back(p.expandable ? 1 : 0);
    }
  }
  ForwardBatch batch{tokens, positions, seqs, rows, expandable, form};
  ForwardOutput out;
  out.ws.expanded_floats = expanded_floats;
  model.forward(batch, cache, pool, out);
  const int64_t vocab = model.config().vocab_size;
  std::vector<std::vector<float>> logits;
  for (size_t r = 0; r < rows.size(); ++r)
    logits.emplace_back(out.logits.begin() + r * vocab, out.logits.begin() + (r + 1) * vocab);
  return logits;
}

LatentCache cache_for(const Model& model, int sequences) {
  EngineOptions o;
  o.ctx_size = 128;
  return make_cache(model, o, sequences, 128);
}

double relative_rms(const std::vector<std::vector<float>>& a,
                    const std::vector<std::vector<float>>& b) {
  double diff = 0, norm = 0;
  for (size_t r = 0; r < a.size(); ++r)
    for (size_t k = 0; k < a[r].size(); ++k) {
      diff += (a[r][k] - b[r][k]) * double(a[r][k] - b[r][k]);
      norm += a[r][k] * double(a[r][k]);
    }
  return std::sqrt(diff / norm);
}

const char* const kFixtures[] = {"tiny-v3", "tiny-v3-fp8", "tiny-v2-lite", "demo-coder"};

// Absorbed and expanded logits of a 70-token prompt agree to float32 rounding (the bound of
// prefill against token by token in test_golden.cc: the same ops in another grouping).
TEST(AttentionForms, AgreeToRounding) {
  ThreadPool pool(2);
  for (const char* name : kFixtures) {
    std::shared_ptr<const Model> model = Model::load(kModels + "/" + name);
    LatentCache cache = cache_for(*model, 2);
    const std::vector<int32_t> prompt = prompt_of(70, 1);
    const int32_t a = cache.add_sequence(), e = cache.add_sequence();
    const auto absorbed = run_pass(*model, cache, pool, {{a, prompt, 0}}, AttentionForm::Absorbed);
    const auto expanded = run_pass(*model, cache, pool, {{e, prompt, 0}}, AttentionForm::Expanded);
    EXPECT_LT(relative_rms(absorbed, expanded), 1e-6) << name;
    EXPECT_GT(relative_rms(absorbed, expanded), 0.0) << name << ": the forms did not both run";
  }
}

// An expanded row gives the same bits whether its prompt runs in one pass or cut into runs that
// start mid-prompt (expanding the earlier keys from the cache), and whether or not an absorbed
// decode row of another sequence shares the pass; that decode row matches its lone self too.
TEST(AttentionForms, EachFormGivesTheSameBitsHoweverTheBatchIsCut) {
  ThreadPool pool(3);
  for (const char* name : kFixtures) {
    std::shared_ptr<const Model> model = Model::load(kModels + "/" + name);
    LatentCache cache = cache_for(*model, 4);
    const std::vector<int32_t> prompt = prompt_of(70, 2), other = prompt_of(9, 3);
    auto part = [&](int b, int e) {
      return std::vector<int32_t>(prompt.begin() + b, prompt.begin() + e);
    };
    const int32_t whole = cache.add_sequence(), cut = cache.add_sequence();
    const int32_t lone = cache.add_sequence(), crowd = cache.add_sequence();
    const auto want = run_pass(*model, cache, pool, {{whole, prompt, 0}}, AttentionForm::Expanded);

    // The other sequence: 8 tokens of prompt, then its 9th as a decode row, alone and in a crowd.
    const std::vector<int32_t> head(other.begin(), other.end() - 1), last = {other.back()};
    run_pass(*model, cache, pool, {{lone, head, 0}, {crowd, head, 0}}, AttentionForm::Absorbed);
    const auto lone_row =
        run_pass(*model, cache, pool, {{lone, last, 8, false}}, AttentionForm::Expanded);

    std::vector<std::vector<float>> got;
    for (auto& row :
         run_pass(*model, cache, pool, {{cut, part(0, 20), 0}}, AttentionForm::Expanded))
      got.push_back(row);
    auto mixed = run_pass(*model, cache, pool, {{crowd, last, 8, false}, {cut, part(20, 45), 20}},
                          AttentionForm::Expanded);
    EXPECT_EQ(std::memcmp(mixed[0].data(), lone_row[0].data(), mixed[0].size() * 4), 0) << name;
    got.insert(got.end(), mixed.begin() + 1, mixed.end());
    for (auto& row :
         run_pass(*model, cache, pool, {{cut, part(45, 70), 45}}, AttentionForm::Expanded))
      got.push_back(row);
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < want.size(); ++r)
      ASSERT_EQ(std::memcmp(got[r].data(), want[r].data(), want[r].size() * 4), 0)
          << name << " row " << r;
  }
}

// A long context runs the expanded form's heads in groups (bands of kv_b) to bound its memory:
// the same bits as all heads at once, for the smallest groups the layout allows and for two.
TEST(AttentionForms, HeadGroupsGiveTheSameBits) {
  ThreadPool pool(2);
  for (const char* name : kFixtures) {
    std::shared_ptr<const Model> model = Model::load(kModels + "/" + name);
    const ModelConfig& c = model->config();
    LatentCache cache = cache_for(*model, 3);
    const std::vector<int32_t> prompt = prompt_of(40, 4);
    const int64_t per_head = 40 * (c.qk_nope_head_dim + c.v_head_dim + c.qk_head_dim());
    std::vector<std::vector<std::vector<float>>> runs;
    for (int64_t floats : {int64_t{1} << 24, int64_t{1}, 2 * per_head}) {
      const int32_t seq = cache.add_sequence();
      runs.push_back(
          run_pass(*model, cache, pool, {{seq, prompt, 0}}, AttentionForm::Expanded, floats));
    }
    for (size_t k = 1; k < runs.size(); ++k)
      for (size_t r = 0; r < runs[0].size(); ++r)
        ASSERT_EQ(std::memcmp(runs[k][r].data(), runs[0][r].data(), runs[0][r].size() * 4), 0)
            << name << " limit " << k << " row " << r;
  }
}

// The cost rule on DeepSeek-V2-Lite's attention shape: a prompt's first chunk and long runs
// expand; short runs and runs far into a long context stay absorbed.
TEST(AttentionForms, CheaperFormFollowsTheCounts) {
  ModelConfig c;
  c.num_attention_heads = 16;
  c.kv_lora_rank = 512;
  c.qk_rope_head_dim = 64;
  c.qk_nope_head_dim = 128;
  c.v_head_dim = 128;
  EXPECT_TRUE(expanded_is_cheaper(c, 0, 512));
  EXPECT_TRUE(expanded_is_cheaper(c, 0, kMinExpandedRows));
  EXPECT_FALSE(expanded_is_cheaper(c, 0, kMinExpandedRows - 1));
  EXPECT_TRUE(expanded_is_cheaper(c, 3584, 512));
  EXPECT_FALSE(expanded_is_cheaper(c, 4000, 100));  // 405050 pairs x 1536 < 4000 keys x 262144
  EXPECT_FALSE(expanded_is_cheaper(c, 100, 1));
}

}  // namespace
}  // namespace dsx::test
