// What the listing endpoints report about the served model, read once at startup.
#include <sys/stat.h>

#include "io/io.h"
#include "server/server.h"

namespace dsx {

std::string model_name_from_dir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.find_last_of('/');
  std::string name = slash == std::string::npos ? d : d.substr(slash + 1);
  return name.empty() || name == "." ? std::string("model") : name;
}

ModelInfo read_model_info(const std::string& dir, const std::string& name) {
  ModelInfo info;
  info.dir = dir;
  info.name = name.empty() ? model_name_from_dir(dir) : name;
  info.config = ModelConfig::load(dir);
  struct stat st {};
  if (::stat((dir + "/config.json").c_str(), &st) == 0) info.created_unix = st.st_mtime;
  // The headers only: the tensors stay mapped, untouched, until the mapping is dropped.
  const SafeTensors tensors = SafeTensors::open_dir(dir);
  size_t largest = 0;
  for (const std::string& n : tensors.names()) {
    const TensorInfo& t = tensors.get(n);
    info.parameters += t.numel();
    info.size_bytes += static_cast<int64_t>(t.nbytes);
    if (t.nbytes > largest) {
      largest = t.nbytes;
      info.dtype = dtype_name(t.dtype);
    }
  }
  return info;
}

}  // namespace dsx
