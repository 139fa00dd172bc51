// SamplingParams validation: reject settings that would make the pipeline undefined, with a
// message that names the field so a server can hand it straight back to the client.
#include <cmath>
#include <cstdio>
#include <string>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

// "%g" prints 1.5 as "1.5" and NaN as "nan", which reads better in an error than to_string.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

[[noreturn]] void fail(const char* field, const char* rule, double got) {
  throw Error(std::string(field) + " must be " + rule + ", got " + num(got));
}

}  // namespace

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    fail("temperature", "finite and >= 0", temperature);
  }
  if (top_k < 0) fail("top_k", ">= 0", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top_p", "in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min_p", "in [0, 1]", min_p);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) {
    fail("repeat_penalty", "finite and > 0", repeat_penalty);
  }
  if (repeat_last_n < -1) fail("repeat_last_n", ">= -1", repeat_last_n);
  if (!std::isfinite(frequency_penalty)) fail("frequency_penalty", "finite", frequency_penalty);
  if (!std::isfinite(presence_penalty)) fail("presence_penalty", "finite", presence_penalty);
}

}  // namespace dsx
