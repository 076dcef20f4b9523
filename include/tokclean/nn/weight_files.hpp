#pragma once
// The weight files of a Hugging Face model directory: one model.safetensors, or shards that
// model.safetensors.index.json lists ({"metadata": {...}, "weight_map": {tensor: file}}), as
// transformers saves models above its shard size.
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/safetensors.hpp"

namespace tokclean {

inline constexpr std::string_view weights_index_file_name = "model.safetensors.index.json";

// "model-00002-of-00005.safetensors": shard i (1-based) of n, transformers' naming.
inline std::string shard_file_name(std::size_t i, std::size_t n) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i, n);
    return name;
}

// A name a saved model's weights may have: model.safetensors, the index, or a shard.
inline bool is_weight_file_name(std::string_view name) {
    if (name == "model.safetensors" || name == weights_index_file_name) return true;
    // model-DDDDD-of-DDDDD.safetensors
    constexpr std::string_view head = "model-", mid = "-of-", tail = ".safetensors";
    if (name.size() != head.size() + 5 + mid.size() + 5 + tail.size()) return false;
    if (!name.starts_with(head) || !name.ends_with(tail) || name.substr(head.size() + 5, mid.size()) != mid)
        return false;
    for (std::size_t at : {head.size(), head.size() + 5 + mid.size()})
        for (std::size_t d = 0; d < 5; ++d)
            if (name[at + d] < '0' || name[at + d] > '9') return false;
    return true;
}

namespace weights_detail {

// The weight files of `dir` and which holds each tensor: the index's weight_map, or every
// tensor of model.safetensors.
struct WeightFiles {
    std::map<std::string, std::unique_ptr<SafetensorsFile>> files;  // by file name
    std::map<std::string, const SafetensorsFile*, std::less<>> holder;  // tensor -> its file
};

// model.safetensors.index.json's weight_map, tensor -> shard file name, each checked to be a
// plain file name in the model directory (an index cannot point elsewhere).
inline std::map<std::string, std::string> parse_weight_index(const nlohmann::json& index, const JsonWhere& where) {
    require_object(index, where);
    const auto& map = require_field(index, "weight_map", where);
    if (!map.is_object()) fail(where.str(), ": field 'weight_map': expected an object, got ", json_describe(map));
    std::map<std::string, std::string> out;
    for (const auto& [tensor, file_value] : map.items()) {
        if (!file_value.is_string())
            fail(where.str(), ": weight_map['", detail::printable(tensor), "']: expected a file name, got ",
                 json_describe(file_value));
        std::string file = file_value.get<std::string>();
        if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
            file.find('\0') != std::string::npos || file == "." || file == "..")
            fail(where.str(), ": weight_map['", detail::printable(tensor), "']: \"", detail::printable(file),
                 "\" is not a file name in the model directory");
        out.emplace(tensor, std::move(file));
    }
    return out;
}

inline std::map<std::string, std::string> read_weight_index(const std::filesystem::path& index_path) {
    return parse_weight_index(read_json_file(index_path), JsonWhere{index_path.string(), 0});
}

inline WeightFiles open_weight_files(const std::filesystem::path& dir) {
    WeightFiles w;
    const auto index_path = dir / weights_index_file_name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(index_path, ec)) {
        auto f = std::make_unique<SafetensorsFile>(dir / "model.safetensors");
        for (const auto& name : f->names()) w.holder.emplace(name, f.get());
        w.files.emplace("model.safetensors", std::move(f));
        return w;
    }
    const std::string where = index_path.string();
    for (const auto& [tensor, file] : read_weight_index(index_path)) {
        auto it = w.files.find(file);
        if (it == w.files.end()) it = w.files.emplace(file, std::make_unique<SafetensorsFile>(dir / file)).first;
        if (!it->second->contains(tensor))
            fail(where, ": weight_map puts '", detail::printable(tensor), "' in ", file, ", which does not hold it");
        w.holder.emplace(tensor, it->second.get());
    }
    // A shard's tensor the index does not list would be silently dropped: refuse it.
    for (const auto& [file, f] : w.files)
        for (const auto& name : f->names())
            if (!w.holder.count(name))
                fail(f->where(), ": tensor '", detail::printable(name), "' is not in ", weights_index_file_name);
    return w;
}

}  // namespace weights_detail

// The files that hold `dir`'s weights: model.safetensors, or the index and its shards (in name
// order). What a run's fingerprint hashes.
inline std::vector<std::filesystem::path> weight_files(const std::filesystem::path& dir) {
    const auto index_path = dir / weights_index_file_name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(index_path, ec)) return {dir / "model.safetensors"};
    std::set<std::string> shards;
    for (const auto& [tensor, file] : weights_detail::read_weight_index(index_path)) shards.insert(file);
    std::vector<std::filesystem::path> out = {index_path};
    for (const auto& s : shards) out.push_back(dir / s);
    return out;
}

}  // namespace tokclean
