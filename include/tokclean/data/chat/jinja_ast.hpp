#pragma once
// The syntax tree of a parsed template: expressions and statements, each with the position its
// errors name. Literal values are JSON (string, number, bool, null).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/data/chat/jinja_lexer.hpp"

namespace tokclean::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        Literal,   // literal
        Name,      // name
        GetAttr,   // args[0].name
        GetItem,   // args[0][args[1]]
        Slice,     // [args[0]:args[1]:args[2]] (null entries for omitted parts)
        Call,      // args[0](args[1..], kwargs)
        Filter,    // args[0] | name(args[1..], kwargs)
        Test,      // args[0] is [not] name(args[1..])
        Not,       // not args[0]
        Neg,       // -args[0]
        Pos,       // +args[0]
        Binary,    // args[0] name args[1], name one of + - * / // % ** ~
        Compare,   // args[0] ops[0] args[1] ops[1] args[2] ... (chained, Python-style)
        And,       // args[0] and args[1]
        Or,        // args[0] or args[1]
        Cond,      // args[0] if args[1] else args[2] (args[2] null: undefined)
        List,      // [args...]
        Tuple,     // (args...)
        Dict,      // {keys[i]: args[i]}
    };
    Kind kind;
    Pos pos;
    std::string name;
    nlohmann::ordered_json literal;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;   // Compare
    std::vector<ExprPtr> keys;      // Dict
    bool negated = false;           // Test

    Expr(Kind k, Pos p) : kind(k), pos(p) {}
};

struct Stmt;
using Body = std::vector<Stmt>;

struct Stmt {
    enum class Kind { Data, Output, If, For, Set, SetAttr, Break, Continue };
    Kind kind;
    Pos pos;
    std::string text;                  // Data
    ExprPtr expr;                      // Output, Set/SetAttr value, For iterable
    std::vector<std::string> targets;  // For / Set names (several: tuple unpacking); SetAttr: {object, attribute}
    std::vector<std::pair<ExprPtr, Body>> branches;  // If: (condition, body) for if and each elif
    Body body;                         // For body
    Body else_body;                    // If else / For else

    Stmt(Kind k, Pos p) : kind(k), pos(p) {}
};

}  // namespace tokclean::jinja
