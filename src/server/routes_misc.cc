// Health, Prometheus metrics and the Ollama liveness probe at "/".
#include "server/routes.h"

namespace dsx::server {

void health(ServerState& s, const httplib::Request&, httplib::Response& res) {
  const EngineStats st = s.backend->stats();
  send_json(res,
            ordered_json{{"status", s.stopping ? "stopping" : "ok"},
                         {"model", s.info.name},
                         {"running", st.running},
                         {"waiting", st.waiting}},
            s.stopping ? 503 : 200);
}

void metrics(ServerState& s, const httplib::Request&, httplib::Response& res) {
  res.set_content(s.metrics.render(s.backend->stats()), "text/plain; version=0.0.4; charset=utf-8");
}

void root(ServerState&, const httplib::Request&, httplib::Response& res) {
  res.set_content("Ollama is running", "text/plain; charset=utf-8");
}

}  // namespace dsx::server
