"""The generated testbench ``tb.cpp``: the whole pipeline on a file of images.

``tb <params dir> <images.bin> <out dir>`` reads ``images.bin`` (int32
count, H, W, C, then float32 NHWC images), runs every image through the
stages in order, each layer one call of its stage's top function, converts
each stage's output into the next stage's data_t (round half up, saturate),
runs the classifier head on the host in float, and writes to the out dir:
``features.bin`` (float32 ``[count, H', W', M]``, the last feature map),
``logits.bin`` (float32 ``[count, classes]``) and, in a
``-DCOSEARCH_COUNT_LOOPS`` build, ``loop_counts.csv`` (per layer, the tile
iterations of the first image).
"""

from __future__ import annotations

from cosearch.hls.design import HlsDesign

_COMMON = r"""// Testbench: the whole pipeline on a file of images (cosearch.hls).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "network.h"

// ----- words: float, or ap_fixed loaded from raw integers -----
inline float to_float(float x) { return x; }
inline void set_word(float &x, float f, long long) { x = f; }
#ifndef COSEARCH_FLOAT
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
float to_float(const ap_fixed<W, I, Q, O, N> &x) {
  return (float)x.to_double();  // exact: 16-bit values
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
void set_word(ap_fixed<W, I, Q, O, N> &x, float, long long raw) {
  x.range(W - 1, 0) = raw;
}
#endif

static void fail(const std::string &what) {
  std::fprintf(stderr, "tb: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
std::vector<T> read_file(const std::string &path, size_t count, size_t skip = 0) {
  std::vector<T> v(count);
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open " + path);
  if (std::fseek(f, (long)(skip * sizeof(T)), SEEK_SET) != 0 ||
      std::fread(v.data(), sizeof(T), count, f) != count)
    fail("short file " + path);
  std::fclose(f);
  return v;
}

static void write_file(const std::string &path, const std::vector<float> &v) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(v.data(), sizeof(float), v.size(), f) != v.size())
    fail("cannot write " + path);
  std::fclose(f);
}

template <class Cfg>
struct LayerParams {
  std::vector<typename Cfg::weight_t> w;
  std::vector<typename Cfg::bias_t> bias;
  std::vector<typename Cfg::scale_t> scale;
  std::vector<typename Cfg::shift_t> shift;
};

template <class T>
void fill(std::vector<T> &dst, const std::vector<float> &f,
          const std::vector<long long> &q, size_t at, size_t n) {
  dst.resize(n);
  for (size_t i = 0; i < n; i++)
    set_word(dst[i], f.empty() ? 0.f : f[at + i], q.empty() ? 0 : q[at + i]);
}

template <class Cfg>
LayerParams<Cfg> load_layer(const std::string &dir, int l) {
  const LayerDesc &L = LAYERS[l];
  size_t nw = (size_t)L.M * L.N * L.K * L.K, m = L.M, total = nw + 3 * m;
  std::vector<float> f;
  std::vector<long long> q;
#ifdef COSEARCH_FLOAT
  f = read_file<float>(dir + "/layer" + std::to_string(l) + ".f32", total);
#else
  q = read_file<long long>(dir + "/layer" + std::to_string(l) + ".q", total);
#endif
  LayerParams<Cfg> p;
  fill(p.w, f, q, 0, nw);
  fill(p.bias, f, q, nw, m);
  fill(p.scale, f, q, nw + m, m);
  fill(p.shift, f, q, nw + 2 * m, m);
  return p;
}

#ifdef COSEARCH_COUNT_LOOPS
static std::vector<cosearch::LoopCounts> g_counts(NUM_LAYERS);
#endif

// Run layers first..last of one stage on a CHW feature map (in place).
template <class Cfg, class Top>
void run_stage(std::vector<float> &fmap, int first, int last,
               const std::vector<LayerParams<Cfg>> &params, Top top) {
  typedef typename Cfg::data_t data_t;
  std::vector<data_t> a(fmap.size()), b;
  for (size_t i = 0; i < fmap.size(); i++) a[i] = data_t(fmap[i]);
  for (int l = first; l <= last; l++) {
    const LayerDesc &L = LAYERS[l];
    const LayerParams<Cfg> &p = params[l - first];
    b.assign((size_t)L.M * cosearch::cdiv(L.R, L.S) * cosearch::cdiv(L.C, L.S),
             data_t(0));
#ifdef COSEARCH_COUNT_LOOPS
    cosearch::loop_counts() = cosearch::LoopCounts{0, 0, 0, 0};
#endif
    top(a.data(), b.data(), p.w.data(), p.bias.data(), p.scale.data(),
        p.shift.data(), L.N, L.M, L.R, L.C, L.K, L.S);
#ifdef COSEARCH_COUNT_LOOPS
    g_counts[l] = cosearch::loop_counts();
#endif
    a.swap(b);
  }
  fmap.resize(a.size());
  for (size_t i = 0; i < a.size(); i++) fmap[i] = to_float(a[i]);
}
"""

_MAIN = r"""
int main(int argc, char **argv) {
  if (argc != 4) fail("usage: tb <params dir> <images.bin> <out dir>");
  std::string dir = argv[1], out = argv[3];
  std::vector<int> hdr = read_file<int>(argv[2], 4);
  if (hdr[1] != IN_H || hdr[2] != IN_W || hdr[3] != IN_C)
    fail("images.bin: wrong image shape");
  const int count = hdr[0];
  const LayerDesc &last = LAYERS[NUM_LAYERS - 1];
  const int OH = cosearch::cdiv(last.R, last.S), OW = cosearch::cdiv(last.C, last.S);
  const int OC = last.M, D = HEAD_GAP ? OC : OH * OW * OC;
  std::vector<float> head = read_file<float>(dir + "/head.f32",
                                             (size_t)D * NUM_CLASSES + NUM_CLASSES);
@LOAD@
  std::vector<float> features, logits;
  const size_t image_size = (size_t)IN_H * IN_W * IN_C;
  for (int img = 0; img < count; img++) {
    std::vector<float> x = read_file<float>(argv[2], image_size,
                                            4 + (size_t)img * image_size);
    std::vector<float> fmap(image_size);  // NHWC -> CHW
    for (int h = 0; h < IN_H; h++)
      for (int w = 0; w < IN_W; w++)
        for (int c = 0; c < IN_C; c++)
          fmap[((size_t)c * IN_H + h) * IN_W + w] =
              x[((size_t)h * IN_W + w) * IN_C + c];
@RUN@
    std::vector<float> pooled(D, 0.f);
    for (int h = 0; h < OH; h++)
      for (int w = 0; w < OW; w++)
        for (int c = 0; c < OC; c++) {
          float v = fmap[((size_t)c * OH + h) * OW + w];
          features.push_back(v);
          if (HEAD_GAP) pooled[c] += v;
          else pooled[((size_t)h * OW + w) * OC + c] = v;
        }
    if (HEAD_GAP)
      for (int c = 0; c < OC; c++) pooled[c] /= (float)(OH * OW);
    for (int k = 0; k < NUM_CLASSES; k++) {
      float z = head[(size_t)D * NUM_CLASSES + k];
      for (int d = 0; d < D; d++) z += pooled[d] * head[(size_t)d * NUM_CLASSES + k];
      logits.push_back(z);
    }
  }
  write_file(out + "/features.bin", features);
  write_file(out + "/logits.bin", logits);
#ifdef COSEARCH_COUNT_LOOPS
  FILE *f = std::fopen((out + "/loop_counts.csv").c_str(), "w");
  if (!f) fail("cannot write loop_counts.csv");
  std::fprintf(f, "layer,weight_loads,input_loads,computes,stores\n");
  for (int l = 0; l < NUM_LAYERS; l++)
    std::fprintf(f, "%d,%lld,%lld,%lld,%lld\n", l, g_counts[l].weight_loads,
                 g_counts[l].input_loads, g_counts[l].computes, g_counts[l].stores);
  std::fclose(f);
#endif
  return 0;
}
"""


def testbench(design: HlsDesign) -> str:
    """The text of ``tb.cpp`` for ``design``."""
    load, run = [], []
    for s, st in enumerate(design.stages):
        load.append(
            f"  std::vector<LayerParams<stage{s}::Cfg>> p{s};\n"
            f"  for (int l = {st.first}; l <= {st.last}; l++)\n"
            f"    p{s}.push_back(load_layer<stage{s}::Cfg>(dir, l));"
        )
        run.append(
            f"    run_stage<stage{s}::Cfg>(fmap, {st.first}, {st.last}, p{s}, "
            f"cosearch_stage{s});"
        )
    main = _MAIN.replace("@LOAD@", "\n".join(load)).replace("@RUN@", "\n".join(run))
    return _COMMON + main
