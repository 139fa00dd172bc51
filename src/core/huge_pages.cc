// HugePages: an anonymous mapping with room to align its start to a huge page.
#include <sys/mman.h>

#include <cstdint>
#include <utility>

#include "core/core.h"

namespace dsx {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t bytes) {
  return (bytes + kHugePage - 1) / kHugePage * kHugePage;
}
}  // namespace

HugePages::HugePages(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  if (bytes > SIZE_MAX - 2 * kHugePage)
    throw Error("cannot allocate " + std::to_string(bytes) + " bytes");
  const size_t rounded = round_up(bytes);
  region_size_ = rounded + kHugePage;  // room to align the start
  // Pages are committed as they are first written. No MAP_NORESERVE: the kernel's overcommit
  // check still refuses a size beyond reason here rather than the process dying later.
  void* region =
      ::mmap(nullptr, region_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) throw Error("cannot allocate " + std::to_string(bytes) + " bytes");
  region_ = region;
  data_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(region) + kHugePage - 1) /
                                     kHugePage * kHugePage);
  ::madvise(data_, rounded, MADV_HUGEPAGE);  // advice only: without THP it is ordinary memory
}

void HugePages::make_read_only() {
  if (data_) ::mprotect(data_, round_up(size_), PROT_READ);
}

HugePages::~HugePages() {
  if (region_) ::munmap(region_, region_size_);
}

HugePages::HugePages(HugePages&& other) noexcept
    : region_(std::exchange(other.region_, nullptr)),
      region_size_(std::exchange(other.region_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

HugePages& HugePages::operator=(HugePages&& other) noexcept {
  if (this != &other) {
    if (region_) ::munmap(region_, region_size_);
    region_ = std::exchange(other.region_, nullptr);
    region_size_ = std::exchange(other.region_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace dsx
