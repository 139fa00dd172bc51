// Internal to the template module: tokens, the syntax tree and the limits that keep hostile
// templates from exhausting the stack or memory.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "template/template.h"

namespace dsx::tpl {

using Json = nlohmann::ordered_json;

// Fixed bounds (TemplateOptions has the per-render ones). kMaxDepth bounds parse nesting, of
// statements and of expressions, so the recursive parser and evaluator stay shallow.
inline constexpr int kMaxDepth = 200;
inline constexpr size_t kMaxValueBytes = size_t{16} << 20;  // any one string value
inline constexpr long long kMaxItems = 1'000'000;           // range() and list repetition

struct Pos {
  int line = 0;
  int col = 0;
};

// Throws dsx::Error("template: <what> at line L col C").
[[noreturn]] void fail(const std::string& what, Pos pos);

// ---------------------------------------------------------------------------------------------
// Tokens. The lexer turns the source into text runs and the tokens inside {{ }} and {% %};
// comments and whitespace control are resolved there, so the parser never sees them.

enum class Tok {
  kText,        // literal output; `text` holds it
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // `text` holds the unescaped value
  kInt,
  kFloat,
  kOp,  // `text` holds the operator: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEnd,
};

struct Token {
  Tok type;
  std::string text;
  Pos pos;
};

std::vector<Token> lex(std::string_view source, const TemplateOptions& options);

// ---------------------------------------------------------------------------------------------
// Expressions.

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Arg {
  std::string name;  // empty for a positional argument
  ExprPtr value;
};

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kAttr,       // items[0].name
    kItem,       // items[0][items[1]]
    kSlice,      // items[0][items[1]:items[2]:items[3]], absent parts are null
    kCall,       // items[0](args)
    kFilter,     // items[0] | name(args)
    kTest,       // items[0] is [not] name(args)
    kUnary,      // name in {"-", "+", "not"} applied to items[0]
    kBinary,     // items[0] name items[1], name an arithmetic operator or "~"
    kAnd,        // items[0] and items[1]
    kOr,         // items[0] or items[1]
    kCompare,    // items[0] ops[0] items[1] ops[1] items[2] ... (chained, as in Python)
    kCondition,  // items[1] if items[0] else items[2] (items[2] may be null)
    kList,       // [items...]; tuples are lists too
    kDict,       // {items[0]: items[1], items[2]: items[3], ...}
  };

  Kind kind;
  Pos pos;
  int depth = 1;  // height of this subtree, bounded by kMaxDepth
  Json value;
  std::string name;
  bool negated = false;  // `is not`
  std::vector<ExprPtr> items;
  std::vector<Arg> args;
  std::vector<std::string> ops;
};

// ---------------------------------------------------------------------------------------------
// Statements.

struct Node;
using Body = std::vector<Node>;

struct TextNode {
  std::string text;
};
struct OutputNode {
  ExprPtr expr;
};
struct IfNode {
  struct Branch {
    ExprPtr cond;  // null for else
    Body body;
  };
  std::vector<Branch> branches;
};
struct ForNode {
  std::vector<std::string> targets;  // more than one unpacks each item
  ExprPtr iter;
  ExprPtr filter;  // `for x in y if cond`, may be null
  Body body;
  Body else_body;
};
struct SetNode {
  std::vector<std::string> targets;  // `set a, b = ...` unpacks
  std::string attr;                  // `set ns.attr = ...`: targets[0] is the namespace
  ExprPtr value;                     // null for the block form
  Body body;                         // `{% set x %}...{% endset %}`
};
struct MacroNode {
  struct Param {
    std::string name;
    ExprPtr default_value;  // may be null
  };
  std::string name;
  std::vector<Param> params;
  Body body;
};
struct WithNode {
  std::vector<std::pair<std::string, ExprPtr>> assigns;
  Body body;
};
struct FilterBlockNode {
  ExprPtr filter;  // a kFilter chain whose innermost operand is null: the rendered body
  Body body;
};
struct LoopControlNode {
  bool is_break;
};

struct Node {
  Pos pos;
  std::variant<TextNode, OutputNode, IfNode, ForNode, SetNode, MacroNode, WithNode, FilterBlockNode,
               LoopControlNode>
      v;
};

struct Program {
  Body body;
  TemplateOptions options;
};

Program parse_program(std::vector<Token> tokens);

}  // namespace dsx::tpl
