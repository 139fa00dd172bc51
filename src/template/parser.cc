// The parser: a recursive-descent parser over the lexer's tokens, with Jinja2's precedence:
//   condexpr: or ('if' or ('else' condexpr)?)*
//   or > and > not > compare (== != < <= > >= in, not in; chained) > + - > ~ > * / // % > **
//   unary (- +) > primary with postfix (.x [i] [a:b] (args)) and filters/tests (| f, is t).
// Unknown filters and tests are rejected here, as Jinja2 rejects them at compile time, and so is
// every statement this interpreter does not implement: the error names it and its position.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "template/ast.h"
#include "template/value.h"

namespace dsx::tpl {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Program run() {
    Program program;
    std::string end;
    program.body = parse_body({}, &end, "", {});
    return program;
  }

 private:
  // Guards recursion depth in both statement and expression parsing, so deeply nested input is
  // an error rather than a stack overflow.
  struct DepthGuard {
    DepthGuard(Parser& p, Pos pos) : p(p) {
      if (++p.depth_ > kMaxDepth) fail("template nested too deeply", pos);
    }
    ~DepthGuard() { --p.depth_; }
    Parser& p;
  };

  const Token& peek(size_t ahead = 0) const {
    return toks_[std::min(i_ + ahead, toks_.size() - 1)];
  }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).type == Tok::kOp && peek(ahead).text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).type == Tok::kName && peek(ahead).text == name;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kText:
        return "text";
      case Tok::kVarBegin:
        return "'{{'";
      case Tok::kVarEnd:
        return "'}}'";
      case Tok::kBlockBegin:
        return "'{%'";
      case Tok::kBlockEnd:
        return "'%}'";
      case Tok::kString:
        return "string";
      case Tok::kEnd:
        return "end of template";
      default:
        return "'" + t.text + "'";
    }
  }
  [[noreturn]] void unexpected(const char* expected) {
    fail("unexpected " + describe(peek()) + ", expected " + expected, peek().pos);
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) unexpected((std::string("'") + op + "'").c_str());
  }
  std::string expect_name() {
    if (peek().type != Tok::kName) unexpected("a name");
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != Tok::kBlockEnd) unexpected("'%}'");
    next();
  }

  // ------------------------------------------------------------------------------------------
  // Statements.

  // Parses nodes until a block tag whose name is in `ends`; stores that name in *end and leaves
  // the rest of the tag (after the name) to the caller. With no `ends`, parses to the end.
  Body parse_body(std::initializer_list<const char*> ends, std::string* end, const char* opener,
                  Pos opener_pos) {
    DepthGuard guard(*this, opener_pos);
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == Tok::kEnd) {
        if (ends.size() == 0) return body;
        fail(std::string("unterminated '") + opener + "' block, expected '" + *(ends.end() - 1) +
                 "'",
             opener_pos);
      }
      if (t.type == Tok::kText) {
        body.push_back({t.pos, TextNode{next().text}});
      } else if (t.type == Tok::kVarBegin) {
        Pos pos = next().pos;
        ExprPtr e = parse_tuple(true);
        if (peek().type != Tok::kVarEnd) unexpected("'}}'");
        next();
        body.push_back({pos, OutputNode{std::move(e)}});
      } else if (t.type == Tok::kBlockBegin) {
        const Token& name = peek(1);
        if (name.type == Tok::kName &&
            std::any_of(ends.begin(), ends.end(), [&](const char* e) { return name.text == e; })) {
          next();
          end_pos_ = peek().pos;
          *end = next().text;
          return body;
        }
        body.push_back(parse_statement());
      } else {
        unexpected("text or a tag");
      }
    }
  }

  Node parse_statement() {
    Pos pos = next().pos;  // {%
    if (peek().type != Tok::kName) unexpected("a statement name");
    Pos at = peek().pos;
    std::string kw = next().text;
    if (kw == "if") return {pos, parse_if(pos)};
    if (kw == "for") return {pos, parse_for(pos)};
    if (kw == "set") return {pos, parse_set(pos)};
    if (kw == "macro") return {pos, parse_macro(pos)};
    if (kw == "with") return {pos, parse_with(pos)};
    if (kw == "filter") return {pos, parse_filter_block(pos)};
    if (kw == "generation") {  // transformers' AssistantTracker: renders its body as is
      expect_block_end();
      std::string end;
      WithNode node;
      node.body = parse_body({"endgeneration"}, &end, "generation", pos);
      expect_block_end();
      return {pos, std::move(node)};
    }
    if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) fail("'" + kw + "' outside a loop", at);
      expect_block_end();
      return {pos, LoopControlNode{kw == "break"}};
    }
    static const std::set<std::string> kUnsupported = {
        "call", "block",      "extends", "include",   "import", "from",
        "do",   "autoescape", "trans",   "pluralize", "print"};
    if (kUnsupported.count(kw)) fail("unsupported construct '" + kw + "'", at);
    static const std::set<std::string> kStray = {"elif",   "else",          "endif",   "endfor",
                                                 "endset", "endmacro",      "endwith", "endfilter",
                                                 "endraw", "endgeneration", "endcall", "endblock"};
    if (kStray.count(kw)) fail("unexpected '" + kw + "'", at);
    fail("unknown tag '" + kw + "'", at);
  }

  IfNode parse_if(Pos pos) {
    IfNode node;
    std::string end = "if";
    while (end != "endif") {
      ExprPtr cond;
      if (end != "else") cond = parse_tuple(true);
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"}, &end, "if", pos);
      node.branches.push_back({std::move(cond), std::move(body)});
      if (node.branches.back().cond == nullptr && end != "endif")
        fail("'" + end + "' after 'else'", end_pos_);
    }
    expect_block_end();
    return node;
  }

  ForNode parse_for(Pos pos) {
    ForNode node;
    bool paren = accept_op("(");
    do {
      node.targets.push_back(expect_name());
    } while (accept_op(","));
    if (paren) expect_op(")");
    if (!accept_name("in")) unexpected("'in'");
    node.iter = parse_tuple(false);
    if (accept_name("if")) node.filter = parse_expression(true);
    if (is_name("recursive")) fail("unsupported construct 'recursive' loop", peek().pos);
    expect_block_end();
    std::string end;
    ++loop_depth_;
    node.body = parse_body({"else", "endfor"}, &end, "for", pos);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      node.else_body = parse_body({"endfor"}, &end, "for", pos);
    }
    expect_block_end();
    return node;
  }

  SetNode parse_set(Pos pos) {
    SetNode node;
    node.targets.push_back(expect_name());
    if (accept_op(".")) {
      node.attr = expect_name();
    } else {
      while (accept_op(",")) node.targets.push_back(expect_name());
    }
    if (accept_op("=")) {
      node.value = parse_tuple(true);
      expect_block_end();
      return node;
    }
    if (!node.attr.empty() || node.targets.size() > 1) unexpected("'='");
    if (is_op("|")) fail("unsupported construct 'set' block with a filter", peek().pos);
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    node.body = parse_body({"endset"}, &end, "set", pos);
    loop_depth_ = saved;
    expect_block_end();
    return node;
  }

  MacroNode parse_macro(Pos pos) {
    MacroNode node;
    node.name = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
      if (!node.params.empty()) expect_op(",");
      if (accept_op(")")) break;
      MacroNode::Param param;
      param.name = expect_name();
      if (accept_op("=")) param.default_value = parse_expression(true);
      node.params.push_back(std::move(param));
    }
    expect_block_end();
    std::string end;
    int saved = loop_depth_;
    loop_depth_ = 0;
    node.body = parse_body({"endmacro"}, &end, "macro", pos);
    loop_depth_ = saved;
    expect_block_end();
    return node;
  }

  WithNode parse_with(Pos pos) {
    WithNode node;
    while (peek().type != Tok::kBlockEnd) {
      if (!node.assigns.empty()) expect_op(",");
      std::string name = expect_name();
      expect_op("=");
      node.assigns.emplace_back(name, parse_expression(true));
    }
    expect_block_end();
    std::string end;
    node.body = parse_body({"endwith"}, &end, "with", pos);
    expect_block_end();
    return node;
  }

  FilterBlockNode parse_filter_block(Pos pos) {
    FilterBlockNode node;
    ExprPtr chain;  // innermost operand stays null: the rendered body goes there
    do {
      chain = parse_filter(std::move(chain), peek().pos);
    } while (accept_op("|"));
    node.filter = std::move(chain);
    expect_block_end();
    std::string end;
    int saved = loop_depth_;  // the body renders to a string: break cannot leave it
    loop_depth_ = 0;
    node.body = parse_body({"endfilter"}, &end, "filter", pos);
    loop_depth_ = saved;
    expect_block_end();
    return node;
  }

  // ------------------------------------------------------------------------------------------
  // Expressions.

  static ExprPtr make(Expr::Kind kind, Pos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  // Fixes a node's depth from its children once they are in place.
  static ExprPtr done(ExprPtr e) {
    int d = 0;
    for (const ExprPtr& c : e->items) d = std::max(d, c ? c->depth : 0);
    for (const Arg& a : e->args) d = std::max(d, a.value->depth);
    e->depth = d + 1;
    if (e->depth > kMaxDepth) fail("expression nested too deeply", e->pos);
    return e;
  }
  static ExprPtr binary(Expr::Kind kind, std::string op, ExprPtr l, ExprPtr r, Pos pos) {
    ExprPtr e = make(kind, pos);
    e->name = std::move(op);
    e->items.push_back(std::move(l));
    e->items.push_back(std::move(r));
    return done(std::move(e));
  }

  // A comma-separated sequence without brackets is a tuple (a list here), as in `{{ a, b }}`.
  ExprPtr parse_tuple(bool with_condexpr) {
    Pos pos = peek().pos;
    ExprPtr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    ExprPtr list = make(Expr::Kind::kList, pos);
    list->items.push_back(std::move(first));
    while (accept_op(",")) {
      if (peek().type == Tok::kVarEnd || peek().type == Tok::kBlockEnd || is_op(")")) break;
      list->items.push_back(parse_expression(with_condexpr));
    }
    return done(std::move(list));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    DepthGuard guard(*this, peek().pos);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      Pos pos = next().pos;
      ExprPtr cond = make(Expr::Kind::kCondition, pos);
      cond->items.push_back(parse_or());
      cond->items.push_back(std::move(e));
      cond->items.push_back(accept_name("else") ? parse_condexpr() : nullptr);
      e = done(std::move(cond));
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      Pos pos = next().pos;
      e = binary(Expr::Kind::kOr, "or", std::move(e), parse_and(), pos);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      Pos pos = next().pos;
      e = binary(Expr::Kind::kAnd, "and", std::move(e), parse_not(), pos);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (!is_name("not")) return parse_compare();
    DepthGuard guard(*this, peek().pos);
    Pos pos = next().pos;
    ExprPtr e = make(Expr::Kind::kUnary, pos);
    e->name = "not";
    e->items.push_back(parse_not());
    return done(std::move(e));
  }

  ExprPtr parse_compare() {
    Pos pos = peek().pos;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (peek().type == Tok::kOp &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
           peek().text == "<=" || peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        op = next().text;
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::kCompare, pos);
        cmp->items.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->items.push_back(parse_math1());
    }
    return cmp ? done(std::move(cmp)) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(Expr::Kind::kBinary, t.text, std::move(e), parse_concat(), t.pos);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      Pos pos = next().pos;
      e = binary(Expr::Kind::kBinary, "~", std::move(e), parse_math2(), pos);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(Expr::Kind::kBinary, t.text, std::move(e), parse_pow(), t.pos);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      Pos pos = next().pos;
      e = binary(Expr::Kind::kBinary, "**", std::move(e), parse_unary(true), pos);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, peek().pos);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      e = make(Expr::Kind::kUnary, t.pos);
      e->name = t.text;
      e->items.push_back(parse_unary(false));
      e = done(std::move(e));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    Pos pos = t.pos;
    switch (t.type) {
      case Tok::kName: {
        std::string name = next().text;
        ExprPtr e = make(Expr::Kind::kLiteral, pos);
        if (name == "true" || name == "True") {
          e->value = true;
        } else if (name == "false" || name == "False") {
          e->value = false;
        } else if (name == "none" || name == "None") {
          e->value = nullptr;
        } else {
          e->kind = Expr::Kind::kName;
          e->name = name;
        }
        return e;
      }
      case Tok::kString: {
        std::string s;
        while (peek().type == Tok::kString) s += next().text;  // 'a' 'b' concatenates
        ExprPtr e = make(Expr::Kind::kLiteral, pos);
        e->value = std::move(s);
        return e;
      }
      case Tok::kInt:
      case Tok::kFloat: {
        ExprPtr e = make(Expr::Kind::kLiteral, pos);
        e->value = parse_number(next());
        return e;
      }
      case Tok::kOp:
        if (t.text == "(") return parse_paren();
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    unexpected("an expression");
  }

  static Json parse_number(const Token& t) {
    if (t.type == Tok::kFloat) return std::strtod(t.text.c_str(), nullptr);
    errno = 0;
    long long v = std::strtoll(t.text.c_str(), nullptr, 10);
    if (errno == ERANGE) fail("integer literal out of range", t.pos);
    return v;
  }

  ExprPtr parse_paren() {
    Pos pos = next().pos;
    if (accept_op(")")) return done(make(Expr::Kind::kList, pos));  // ()
    ExprPtr first = parse_expression(true);
    if (accept_op(")")) return first;
    ExprPtr list = make(Expr::Kind::kList, pos);
    list->items.push_back(std::move(first));
    while (accept_op(",")) {
      if (is_op(")")) break;
      list->items.push_back(parse_expression(true));
    }
    expect_op(")");
    return done(std::move(list));
  }

  ExprPtr parse_list() {
    ExprPtr list = make(Expr::Kind::kList, next().pos);
    while (!accept_op("]")) {
      if (!list->items.empty()) expect_op(",");
      if (accept_op("]")) break;
      list->items.push_back(parse_expression(true));
    }
    return done(std::move(list));
  }

  ExprPtr parse_dict() {
    ExprPtr dict = make(Expr::Kind::kDict, next().pos);
    while (!accept_op("}")) {
      if (!dict->items.empty()) expect_op(",");
      if (accept_op("}")) break;
      dict->items.push_back(parse_expression(true));
      expect_op(":");
      dict->items.push_back(parse_expression(true));
    }
    return done(std::move(dict));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        Pos pos = next().pos;
        if (peek().type == Tok::kInt) {  // foo.0 is foo[0]
          ExprPtr index = make(Expr::Kind::kLiteral, peek().pos);
          index->value = parse_number(next());
          e = binary(Expr::Kind::kItem, "", std::move(e), std::move(index), pos);
          continue;
        }
        ExprPtr attr = make(Expr::Kind::kAttr, pos);
        attr->name = expect_name();
        attr->items.push_back(std::move(e));
        e = done(std::move(attr));
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    Pos pos = next().pos;  // [
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_expression(true);
    while (colons < 2 && accept_op(":")) {
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression(true);
    }
    expect_op("]");
    if (colons == 0) {
      if (!parts[0]) unexpected("an index");
      return binary(Expr::Kind::kItem, "", std::move(target), std::move(parts[0]), pos);
    }
    ExprPtr slice = make(Expr::Kind::kSlice, pos);
    slice->items.push_back(std::move(target));
    for (ExprPtr& p : parts) slice->items.push_back(std::move(p));
    return done(std::move(slice));
  }

  void parse_args(std::vector<Arg>& args) {
    expect_op("(");
    while (!accept_op(")")) {
      if (!args.empty()) expect_op(",");
      if (accept_op(")")) break;
      if (is_op("*") || is_op("**")) fail("unsupported construct '*args' in a call", peek().pos);
      Arg arg;
      if (peek().type == Tok::kName && is_op("=", 1)) {
        arg.name = next().text;
        next();
      } else if (!args.empty() && !args.back().name.empty()) {
        fail("positional argument after keyword argument", peek().pos);
      }
      arg.value = parse_expression(true);
      args.push_back(std::move(arg));
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    ExprPtr call = make(Expr::Kind::kCall, peek().pos);
    call->items.push_back(std::move(callee));
    parse_args(call->args);
    return done(std::move(call));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        Pos pos = next().pos;
        e = parse_filter(std::move(e), pos);
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filter(ExprPtr operand, Pos pos) {
    Pos name_pos = peek().pos;
    ExprPtr f = make(Expr::Kind::kFilter, pos);
    f->name = expect_name();
    if (!is_filter(f->name)) fail("unknown filter '" + f->name + "'", name_pos);
    f->items.push_back(std::move(operand));
    if (is_op("(")) parse_args(f->args);
    return done(std::move(f));
  }

  ExprPtr parse_test(ExprPtr operand) {
    ExprPtr t = make(Expr::Kind::kTest, next().pos);  // is
    t->negated = accept_name("not");
    Pos name_pos = peek().pos;
    t->name = expect_name();
    if (!is_test(t->name)) fail("unknown test '" + t->name + "'", name_pos);
    t->items.push_back(std::move(operand));
    const Token& n = peek();
    if (is_op("(")) {
      parse_args(t->args);
    } else if ((n.type == Tok::kName || n.type == Tok::kString || n.type == Tok::kInt ||
                n.type == Tok::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      // `x is divisibleby 3`: one argument without parentheses, as Jinja2 allows.
      if (is_name("is")) fail("tests cannot be chained", n.pos);
      Arg arg;
      arg.value = parse_postfix(parse_primary());
      t->args.push_back(std::move(arg));
    }
    return done(std::move(t));
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  Pos end_pos_;  // where the tag that ended the last parse_body names itself
};

}  // namespace

Program parse_program(std::vector<Token> tokens) {
  return Parser(std::move(tokens)).run();
}

}  // namespace dsx::tpl

namespace dsx {

Template Template::parse(std::string_view source, const TemplateOptions& options) {
  auto program = std::make_shared<tpl::Program>(tpl::parse_program(tpl::lex(source, options)));
  program->options = options;
  return Template(std::move(program));
}

}  // namespace dsx
