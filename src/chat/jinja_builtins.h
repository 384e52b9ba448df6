// Jinja's builtin filters, tests, globals and the Python methods templates call on strings and dicts
// (internal to the interpreter). Errors throw r1::Error naming `line`.
#pragma once

#include <string>

#include "chat/jinja_value.h"

namespace r1::jinja {

// obj.name and obj[key] with jinja2's lookup rules: a missing key or attribute is Undefined; only
// looking into Undefined itself is an error.
Value get_attr(const Value& obj, const std::string& name, int line);
Value get_item(const Value& obj, const Value& key, int line);
// obj[start:stop:step]; null Values stand for omitted parts.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line);

// What a for loop or a filter iterates: list items, dict keys, string characters; Undefined is empty.
List iterate(const Value& v, int line);

// Python's `item in container`.
bool contains(const Value& container, const Value& item, int line);

// The error for using an Undefined where a value is needed.
[[noreturn]] void undefined_error(const Value& v, int line);

Value apply_filter(const std::string& name, const Value& input, Args& args, int line);
bool apply_test(const std::string& name, const Value& input, Args& args, int line);

// Names jinja2 itself knows (checked when parsing, as jinja2 does) and names this interpreter
// implements (a jinja2 filter outside the subset fails when it runs, naming it).
enum class Support { Unknown, Unsupported, Supported };
Support filter_support(const std::string& name);
Support test_support(const std::string& name);

// range, namespace, dict, raise_exception, strftime_now.
Dict builtin_globals();

}  // namespace r1::jinja
