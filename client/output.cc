#include "client/output.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace tokenservice {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Scalar(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index)
                              : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index)
                              : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    default:
      return "?";
  }
}

std::string WellKnown(const Message& m) {
  using google::protobuf::util::TimeUtil;
  if (auto* t = dynamic_cast<const google::protobuf::Timestamp*>(&m)) {
    return TimeUtil::ToString(*t);
  }
  if (auto* d = dynamic_cast<const google::protobuf::Duration*>(&m)) {
    return TimeUtil::ToString(*d);
  }
  return "";
}

}  // namespace

std::string FormatHuman(const Message& message, int indent) {
  const std::string pad(indent, ' ');
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  std::string out;
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      std::vector<std::string> values;
      const int n = f->is_repeated() ? r->FieldSize(message, f) : 1;
      for (int i = 0; i < n; ++i) values.push_back(Scalar(message, f, i));
      absl::StrAppend(&out, pad, f->name(), ": ", absl::StrJoin(values, " "),
                      "\n");
    } else if (!f->is_repeated()) {
      const Message& sub = r->GetMessage(message, f);
      std::string text = WellKnown(sub);
      if (!text.empty()) {
        absl::StrAppend(&out, pad, f->name(), ": ", text, "\n");
      } else {
        absl::StrAppend(&out, pad, f->name(), ":\n",
                        FormatHuman(sub, indent + 2));
      }
    } else {
      for (int i = 0; i < r->FieldSize(message, f); ++i) {
        absl::StrAppend(
            &out, pad, "- ", f->name(), ":\n",
            FormatHuman(r->GetRepeatedMessage(message, f, i), indent + 2));
      }
    }
  }
  return out;
}

std::string FormatJson(const Message& message, bool emit_defaults) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = emit_defaults;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace tokenservice
