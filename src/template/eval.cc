// The evaluator: walks the syntax tree with a chain of scopes, writing output to a string.
//
// Scoping follows Jinja2: each for-loop iteration, macro call and with block gets a fresh scope
// whose assignments vanish when it ends (which is why templates carry state across iterations
// in a namespace), while if blocks share their enclosing scope. Every statement, iteration and
// call counts against max_steps, every nested evaluation against kMaxEvalDepth, and the output
// against max_output_bytes, so no template can loop forever, overflow the stack or fill memory.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <unordered_map>

#include "core/core.h"
#include "template/value.h"

namespace dsx::tpl {

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

namespace {

constexpr int kMaxEvalDepth = 1000;

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  // The context is borrowed, not copied: every Value that aliases it lives in this Renderer's
  // scopes, which are gone before render() returns.
  Renderer(const Json& context, const TemplateOptions& options)
      : opt_(options), root_(&context, [](const Json*) {}) {
    frame_ = std::make_shared<Frame>();
    Value ctx;
    ctx.kind = Value::Kind::kData;
    ctx.data = root_;
    if (root_->is_object()) {
      for (auto it = root_->begin(); it != root_->end(); ++it)
        frame_->vars[it.key()] = ctx.child(it.value());
    }
  }

  // A namespace can end up holding itself (`set ns.me = ns`); clearing every one still alive
  // breaks such cycles, so nothing outlives the render.
  ~Renderer() {
    for (const auto& weak : namespaces_) {
      if (auto ns = weak.lock()) ns->attrs.clear();
    }
  }

  std::string run(const Body& body) {
    std::string out;
    out_ = &out;
    exec(body);
    return out;
  }

 private:
  struct DepthGuard {
    DepthGuard(Renderer& r, Pos pos) : r(r) {
      if (++r.depth_ > kMaxEvalDepth) fail("evaluation nested too deeply (recursive macro?)", pos);
    }
    ~DepthGuard() { --r.depth_; }
    Renderer& r;
  };

  void track(const std::shared_ptr<Namespace>& ns) {
    if (namespaces_.size() >= 2 * namespaces_live_ + 64) {  // drop dead ones, amortized O(1)
      std::erase_if(namespaces_, [](const auto& w) { return w.expired(); });
      namespaces_live_ = namespaces_.size();
    }
    namespaces_.push_back(ns);
  }

  void tick(Pos pos) {
    if (++steps_ > opt_.max_steps) {
      fail("template exceeds " + std::to_string(opt_.max_steps) + " steps", pos);
    }
  }

  void write(const std::string& s, Pos pos) {
    if (out_->size() + s.size() > opt_.max_output_bytes) {
      fail("output exceeds " + std::to_string(opt_.max_output_bytes) + " bytes", pos);
    }
    *out_ += s;
  }

  // Runs `fn` with output going to a fresh string, and returns that string.
  template <typename Fn>
  std::string capture(Fn&& fn) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    fn();
    out_ = saved;
    return buf;
  }

  const Value* lookup(const std::string& name) const {
    for (const Frame* f = frame_.get(); f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }

  // ---- Statements ----------------------------------------------------------------------------

  Flow exec(const Body& body) {
    for (const Node& node : body) {
      Flow flow = exec(node);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& node) {
    DepthGuard guard(*this, node.pos);
    tick(node.pos);
    return std::visit([&](const auto& n) { return exec_node(n, node.pos); }, node.v);
  }

  Flow exec_node(const TextNode& n, Pos pos) {
    write(n.text, pos);
    return Flow::kNormal;
  }

  Flow exec_node(const OutputNode& n, Pos pos) {
    write(to_str(eval(*n.expr)), pos);
    return Flow::kNormal;
  }

  Flow exec_node(const IfNode& n, Pos) {
    for (const auto& branch : n.branches) {
      if (!branch.cond || truthy(eval(*branch.cond))) return exec(branch.body);
    }
    return Flow::kNormal;
  }

  void bind(Frame& frame, const std::vector<std::string>& targets, const Value& v, Pos pos) {
    if (targets.size() == 1) {
      frame.vars[targets[0]] = v;
      return;
    }
    if (!v.is_array() || v.json().size() != targets.size()) {
      fail("cannot unpack a " + type_name(v) + " into " + std::to_string(targets.size()) + " names",
           pos);
    }
    for (size_t i = 0; i < targets.size(); ++i) frame.vars[targets[i]] = v.child(v.json()[i]);
  }

  Flow exec_node(const ForNode& n, Pos pos) {
    std::vector<Value> items = iterate(eval(*n.iter), n.iter->pos);
    std::shared_ptr<Frame> outer = frame_;
    if (n.filter) {
      std::vector<Value> kept;
      for (Value& item : items) {
        tick(pos);
        frame_ = std::make_shared<Frame>();
        frame_->parent = outer;
        bind(*frame_, n.targets, item, pos);
        bool keep = truthy(eval(*n.filter));
        frame_ = outer;
        if (keep) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty())
      return exec(n.else_body);  // outside the loop: break/continue go to an outer one
    auto shared = std::make_shared<const std::vector<Value>>(std::move(items));
    for (size_t i = 0; i < shared->size(); ++i) {
      tick(pos);
      frame_ = std::make_shared<Frame>();
      frame_->parent = outer;
      bind(*frame_, n.targets, (*shared)[i], pos);
      auto loop = std::make_shared<Loop>();
      loop->items = shared;
      loop->index0 = i;
      Value lv;
      lv.kind = Value::Kind::kLoop;
      lv.loop = std::move(loop);
      frame_->vars["loop"] = std::move(lv);
      Flow flow = exec(n.body);
      frame_ = outer;
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Flow exec_node(const SetNode& n, Pos pos) {
    Value v = n.value ? eval(*n.value) : Value::of(capture([&] { exec(n.body); }));
    if (!n.attr.empty()) {
      const Value* ns = lookup(n.targets[0]);
      if (!ns || ns->kind != Value::Kind::kNamespace) {
        fail("cannot assign attribute '" + n.attr + "' on '" + n.targets[0] +
                 "', which is not a namespace",
             pos);
      }
      ns->ns->set(n.attr, std::move(v));
      return Flow::kNormal;
    }
    bind(*frame_, n.targets, v, pos);
    return Flow::kNormal;
  }

  Flow exec_node(const MacroNode& n, Pos) {
    auto macro = std::make_shared<Macro>();
    macro->node = &n;
    macro->closure = frame_;
    Value v;
    v.kind = Value::Kind::kMacro;
    v.macro = std::move(macro);
    frame_->vars[n.name] = std::move(v);
    return Flow::kNormal;
  }

  Flow exec_node(const WithNode& n, Pos) {
    auto frame = std::make_shared<Frame>();
    frame->parent = frame_;
    for (const auto& [name, expr] : n.assigns) frame->vars[name] = eval(*expr);
    std::shared_ptr<Frame> outer = frame_;
    frame_ = frame;
    Flow flow = exec(n.body);
    frame_ = outer;
    return flow;
  }

  Flow exec_node(const FilterBlockNode& n, Pos pos) {
    Value body = Value::of(capture([&] { exec(n.body); }));
    write(to_str(eval_filter(*n.filter, &body)), pos);
    return Flow::kNormal;
  }

  Flow exec_node(const LoopControlNode& n, Pos) {
    return n.is_break ? Flow::kBreak : Flow::kContinue;
  }

  // ---- Expressions ---------------------------------------------------------------------------

  Value eval(const Expr& e) {
    DepthGuard guard(*this, e.pos);
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return Value::of(e.value);
      case Expr::Kind::kName: {
        const Value* v = lookup(e.name);
        return v ? *v : Value::undefined(e.name);
      }
      case Expr::Kind::kAttr:
        return get_attr(eval(*e.items[0]), e.name);
      case Expr::Kind::kItem:
        return get_item(eval(*e.items[0]), eval(*e.items[1]));
      case Expr::Kind::kSlice: {
        Value parts[3];
        for (int i = 0; i < 3; ++i) {
          if (e.items[i + 1]) parts[i] = eval(*e.items[i + 1]);
        }
        return slice(eval(*e.items[0]), parts[0], parts[1], parts[2], e.pos);
      }
      case Expr::Kind::kCall:
        return call(e);
      case Expr::Kind::kFilter:
        return eval_filter(e, nullptr);
      case Expr::Kind::kTest:
        return Value::of(apply_test(e.name, eval(*e.items[0]), eval_args(e.args), e.pos) !=
                         e.negated);
      case Expr::Kind::kUnary:
        return unary(e);
      case Expr::Kind::kBinary:
        return binary_op(e.name, eval(*e.items[0]), eval(*e.items[1]), e.pos);
      case Expr::Kind::kAnd: {
        Value l = eval(*e.items[0]);
        return truthy(l) ? eval(*e.items[1]) : l;
      }
      case Expr::Kind::kOr: {
        Value l = eval(*e.items[0]);
        return truthy(l) ? l : eval(*e.items[1]);
      }
      case Expr::Kind::kCompare: {
        Value left = eval(*e.items[0]);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.items[i + 1]);
          if (!compare_op(e.ops[i], left, right, e.pos)) return Value::of(false);
          left = std::move(right);
        }
        return Value::of(true);
      }
      case Expr::Kind::kCondition:
        if (truthy(eval(*e.items[0]))) return eval(*e.items[1]);
        return e.items[2] ? eval(*e.items[2]) : Value::undefined("conditional expression");
      case Expr::Kind::kList: {
        Json list = Json::array();
        for (const ExprPtr& item : e.items) list.push_back(to_json(eval(*item), item->pos));
        return Value::of(std::move(list));
      }
      case Expr::Kind::kDict: {
        Json dict = Json::object();
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          Value key = eval(*e.items[i]);
          if (!key.is_string())
            fail("dict keys must be strings, not " + type_name(key), e.items[i]->pos);
          dict[key.json().get<std::string>()] = to_json(eval(*e.items[i + 1]), e.items[i + 1]->pos);
        }
        return Value::of(std::move(dict));
      }
    }
    fail("unknown expression", e.pos);
  }

  Value unary(const Expr& e) {
    Value v = eval(*e.items[0]);
    if (e.name == "not") return Value::of(!truthy(v));
    if (v.is_undefined()) fail_undefined(v, e.pos);
    if (!v.is_number())
      fail("bad operand type for unary " + e.name + ": '" + type_name(v) + "'", e.pos);
    const Json& j = v.json();
    if (is_integral(j)) {
      long long x = as_int(j);
      if (e.name == "-" && x == INT64_MIN) fail("integer overflow", e.pos);
      return Value::of(e.name == "-" ? -x : x);
    }
    return Value::of(e.name == "-" ? -j.get<double>() : j.get<double>());
  }

  CallArgs eval_args(const std::vector<Arg>& args) {
    CallArgs out;
    for (const Arg& a : args) {
      if (a.name.empty()) {
        out.positional.push_back(eval(*a.value));
      } else {
        out.named.emplace_back(a.name, eval(*a.value));
      }
    }
    return out;
  }

  // A filter chain; `body` replaces the null innermost operand of a {% filter %} block.
  Value eval_filter(const Expr& e, const Value* body) {
    Value input = e.items[0]
                      ? (e.items[0]->kind == Expr::Kind::kFilter ? eval_filter(*e.items[0], body)
                                                                 : eval(*e.items[0]))
                      : *body;
    return apply_filter(e.name, input, eval_args(e.args), e.pos);
  }

  Value call(const Expr& e) {
    tick(e.pos);
    const Expr& callee = *e.items[0];
    if (callee.kind == Expr::Kind::kAttr) {
      Value self = eval(*callee.items[0]);
      CallArgs args = eval_args(e.args);
      if (self.kind == Value::Kind::kLoop && callee.name == "cycle") {
        if (args.positional.empty()) fail("loop.cycle() needs at least one argument", e.pos);
        return args.positional[self.loop->index0 % args.positional.size()];
      }
      if (self.is_data()) return call_method(self, callee.name, args, e.pos);
      Value member = get_attr(self, callee.name);
      if (member.kind == Value::Kind::kMacro) return call_macro(*member.macro, args, e.pos);
      if (self.is_undefined()) fail_undefined(self, e.pos);
      fail(quoted_type(self) + " object has no method '" + callee.name + "'", e.pos);
    }
    if (callee.kind == Expr::Kind::kName && !lookup(callee.name)) {
      return call_global(callee.name, eval_args(e.args), e.pos);
    }
    Value f = eval(callee);
    if (f.kind == Value::Kind::kMacro) return call_macro(*f.macro, eval_args(e.args), e.pos);
    if (f.is_undefined()) fail_undefined(f, e.pos);
    fail(quoted_type(f) + " object is not callable", e.pos);
  }

  Value call_macro(const Macro& m, const CallArgs& args, Pos pos) {
    DepthGuard guard(*this, pos);
    const MacroNode& node = *m.node;
    std::string what = "macro '" + node.name + "'";
    if (args.positional.size() > node.params.size()) fail(what + " got too many arguments", pos);
    auto frame = std::make_shared<Frame>();
    frame->parent = m.closure.lock();
    if (!frame->parent) fail(what + " called after the scope that defined it ended", pos);
    for (size_t i = 0; i < args.positional.size(); ++i)
      frame->vars[node.params[i].name] = args.positional[i];
    for (const auto& [name, value] : args.named) {
      auto it = std::find_if(node.params.begin(), node.params.end(),
                             [&name = name](auto& p) { return p.name == name; });
      if (it == node.params.end()) fail(what + " got an unexpected argument '" + name + "'", pos);
      if (frame->vars.count(name))
        fail(what + " got multiple values for argument '" + name + "'", pos);
      frame->vars[name] = value;
    }
    std::shared_ptr<Frame> outer = frame_;
    frame_ = frame;
    for (const auto& param : node.params) {  // defaults see the parameters before them
      if (frame->vars.count(param.name)) continue;
      frame->vars[param.name] =
          param.default_value ? eval(*param.default_value) : Value::undefined(param.name);
    }
    std::string out = capture([&] { exec(node.body); });
    frame_ = outer;
    return Value::of(std::move(out));
  }

  // Functions that exist without being defined: Jinja2's globals plus transformers' additions.
  Value call_global(const std::string& name, const CallArgs& args, Pos pos) {
    if (name == "range") return range(args, pos);
    if (name == "namespace" || name == "dict") {
      auto ns = std::make_shared<Namespace>();
      for (const Value& v : args.positional) {
        if (!v.is_object()) fail(name + "() positional arguments must be dicts", pos);
        for (auto it = v.json().begin(); it != v.json().end(); ++it)
          ns->set(it.key(), v.child(it.value()));
      }
      for (const auto& [k, v] : args.named) ns->set(k, v);
      if (name == "namespace") {
        track(ns);
        Value v;
        v.kind = Value::Kind::kNamespace;
        v.ns = std::move(ns);
        return v;
      }
      Json dict = Json::object();
      for (const auto& [k, v] : ns->attrs) dict[k] = to_json(v, pos);
      return Value::of(std::move(dict));
    }
    if (name == "raise_exception") {
      Params p(args, {"message"}, "raise_exception()", pos);
      std::string msg = p.has(0) ? to_str(*p.get(0)) : "raise_exception() called";
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      throw Error(msg);
    }
    if (name == "strftime_now") {
      Params p(args, {"format"}, "strftime_now()", pos);
      if (!p.has(0) || !p.get(0)->is_string()) fail("strftime_now() needs a format string", pos);
      std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      size_t n = std::strftime(buf, sizeof buf,
                               p.get(0)->json().get_ref<const std::string&>().c_str(), &tm);
      return Value::of(std::string(buf, n));
    }
    fail("'" + name + "' is undefined", pos);
  }

  static Value range(const CallArgs& args, Pos pos) {
    if (!args.named.empty() || args.positional.empty() || args.positional.size() > 3) {
      fail("range() takes 1 to 3 positional arguments", pos);
    }
    long long v[3] = {0, 0, 1};
    for (size_t i = 0; i < args.positional.size(); ++i) {
      const Value& a = args.positional[i];
      if (!a.is_data() || !is_integral(a.json())) fail("range() arguments must be integers", pos);
      v[args.positional.size() == 1 ? 1 : i] = as_int(a.json());
    }
    if (v[2] == 0) fail("range() step must not be zero", pos);
    long double count = std::ceil((static_cast<long double>(v[1]) - v[0]) / v[2]);
    if (count > kMaxItems)
      fail("range() of more than " + std::to_string(kMaxItems) + " items", pos);
    Json out = Json::array();
    for (long long k = 0; k < static_cast<long long>(count); ++k) out.push_back(v[0] + k * v[2]);
    return Value::of(std::move(out));
  }

  const TemplateOptions& opt_;
  std::shared_ptr<const Json> root_;
  std::shared_ptr<Frame> frame_;
  std::string* out_ = nullptr;
  long long steps_ = 0;
  int depth_ = 0;
  std::vector<std::weak_ptr<Namespace>> namespaces_;
  size_t namespaces_live_ = 0;
};

}  // namespace
}  // namespace dsx::tpl

namespace dsx {

std::string Template::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object() && !context.is_null()) {
    throw Error("template: the render context must be an object");
  }
  try {
    return tpl::Renderer(context, program_->options).run(program_->body);
  } catch (const nlohmann::json::exception& e) {  // a case the checks above missed: still one Error
    throw Error(std::string("template: ") + e.what());
  }
}

}  // namespace dsx
