// Rearranges the matrices of a copied checkpoint into the layout the matmul kernels run fastest:
// on a CPU with AMX, bf16 and fp8 matrices take the tile layout (kernels::tile_rows), which AMX
// multiplies for any token count at about the memory's pace; otherwise, and for other types, the
// interleaved layout (kernels::interleave_rows): decode reads every weight once per token, and a
// group of 8 rows read as one linear run keeps the hardware prefetchers ahead where 8 separate
// row streams do not (bench_kernels, bf16 GEMV 8192x4096 on two threads: 26.8 -> 30.2 GB/s).
#include <map>
#include <set>

#include "model/model.h"

namespace dsx {

namespace {

// The layout w will take: tiled, interleaved, or none (row-major).
enum class Layout { RowMajor, Interleaved, Tiled };
Layout layout_for(const WeightView& w) {
  if (kernels::best_backend() == kernels::Backend::Amx && kernels::can_tile(w))
    return Layout::Tiled;
  if (kernels::can_interleave(w)) return Layout::Interleaved;
  return Layout::RowMajor;
}
int64_t group_rows(Layout layout) {
  return layout == Layout::Tiled ? kernels::kTileGroupRows : kernels::kInterleaveRows;
}
void lay_out(WeightView& w, void* data, Layout layout) {
  if (layout == Layout::Tiled) kernels::tile_rows(w, data);
  if (layout == Layout::Interleaved) kernels::interleave_rows(w, data);
}

// Every view of `l` that only matmul reads.
void matmul_views(LayerWeights& l, std::vector<WeightView*>& out) {
  MlaWeights& a = l.attn;
  for (WeightView* v : {&a.q_a, &a.q_b, &a.q, &a.kv_a, &a.o}) out.push_back(v);
  for (WeightView& v : a.uk_t) out.push_back(&v);
  auto mlp = [&](MlpWeights& m) {
    for (WeightView* v : {&m.gate, &m.up, &m.down}) out.push_back(v);
  };
  if (!l.moe) return mlp(l.mlp);
  out.push_back(&l.experts.router);
  for (MlpWeights& e : l.experts.experts) mlp(e);
  if (l.experts.shared) mlp(*l.experts.shared);
}

// kv_b whole, and its W_UV bands (uv) with it, when every band is a band of whole groups. uv
// views that are float32 copies (absorb.cc) stay as they are.
void interleave_kv_b(MlaWeights& a, const SafeTensors& st) {
  WeightView& kv_b = a.kv_b;
  const Layout layout = layout_for(kv_b);
  if (layout == Layout::RowMajor) return;
  const int64_t rows = group_rows(layout);
  const auto* begin = static_cast<const char*>(kv_b.data);
  const int64_t bytes = kv_b.rows * kv_b.cols * static_cast<int64_t>(dtype_size(kv_b.type));
  auto in_kv_b = [&](const WeightView& v) {
    const auto* p = static_cast<const char*>(v.data);
    return v.type == kv_b.type && p >= begin && p < begin + bytes;
  };
  for (const WeightView& v : a.uv) {
    if (!in_kv_b(v)) continue;
    const int64_t r0 = (static_cast<const char*>(v.data) - begin) /
                       (kv_b.cols * static_cast<int64_t>(dtype_size(kv_b.type)));
    if (r0 % rows != 0 || v.rows % rows != 0) return;
  }
  void* data = st.writable(kv_b.data, static_cast<size_t>(bytes));
  if (data == nullptr) return;
  lay_out(kv_b, data, layout);
  for (WeightView& v : a.uv) {
    if (!in_kv_b(v)) continue;
    v.interleaved = kv_b.interleaved;
    v.tiled = kv_b.tiled;
  }
}

}  // namespace

void lay_out_copy(WeightView& w, void* data) {
  lay_out(w, data, layout_for(w));
}

void interleave_weights(ModelWeights& w, const SafeTensors& st) {
  for (LayerWeights& l : w.layers) interleave_kv_b(l.attn, st);
  for (MtpWeights& m : w.mtp) interleave_kv_b(m.layer.attn, st);
  std::vector<WeightView*> views;
  for (LayerWeights& l : w.layers) matmul_views(l, views);
  views.push_back(&w.lm_head);
  std::set<const void*> keep = {w.embed.data};  // read a row at a time, not through matmul
  for (MtpWeights& m : w.mtp) {
    matmul_views(m.layer, views);
    views.push_back(&m.eh_proj);
    views.push_back(&m.head);
    keep.insert(m.embed.data);
  }
  // A matrix two views share (MTP and main head) goes once; the other view takes its layout.
  std::map<const void*, const WeightView*> done;
  for (WeightView* v : views) {
    if (v->data == nullptr || keep.count(v->data)) continue;
    if (const auto it = done.find(v->data); it != done.end()) {
      v->interleaved = it->second->interleaved;
      v->tiled = it->second->tiled;
      continue;
    }
    const Layout layout = layout_for(*v);
    if (layout != Layout::RowMajor) {
      const size_t bytes = static_cast<size_t>(v->rows * v->cols) * dtype_size(v->type);
      if (void* data = st.writable(v->data, bytes)) lay_out(*v, data, layout);
    }
    done[v->data] = v;
  }
}

}  // namespace dsx
