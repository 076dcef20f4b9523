#pragma once
// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON header {"name": {"dtype", "shape", "data_offsets"}, ...,
// "__metadata__": {string: string}}, then the data section, which the tensors cover exactly.
// Reading validates the whole file up front and converts F32/F16/BF16 to float; writing
// produces F32 files (header padded with spaces to a multiple of 8) through an AtomicFile.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/shape.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

// Every dtype of the safetensors spec. All are recognised (so their sizes validate and the
// error can say "unsupported" rather than "unknown"); F32, F16 and BF16 can be read.
enum class Dtype { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

namespace detail {
struct DtypeInfo {
    Dtype dtype;
    std::string_view name;
    std::size_t size;  // bytes per element
    bool readable;     // convertible to float by to_float()
};
inline constexpr DtypeInfo dtype_table[] = {
    {Dtype::BOOL, "BOOL", 1, false},      {Dtype::U8, "U8", 1, false},
    {Dtype::I8, "I8", 1, false},          {Dtype::F8_E5M2, "F8_E5M2", 1, false},
    {Dtype::F8_E4M3, "F8_E4M3", 1, false}, {Dtype::I16, "I16", 2, false},
    {Dtype::U16, "U16", 2, false},        {Dtype::F16, "F16", 2, true},
    {Dtype::BF16, "BF16", 2, true},       {Dtype::I32, "I32", 4, false},
    {Dtype::U32, "U32", 4, false},        {Dtype::F32, "F32", 4, true},
    {Dtype::F64, "F64", 8, false},        {Dtype::I64, "I64", 8, false},
    {Dtype::U64, "U64", 8, false},
};
inline const DtypeInfo& dtype_info(Dtype d) { return dtype_table[static_cast<int>(d)]; }
}  // namespace detail

inline std::string_view dtype_name(Dtype d) { return detail::dtype_info(d).name; }
inline std::size_t dtype_size(Dtype d) { return detail::dtype_info(d).size; }
inline bool dtype_is_readable(Dtype d) { return detail::dtype_info(d).readable; }
inline std::optional<Dtype> parse_dtype(std::string_view name) {
    for (const auto& info : detail::dtype_table)
        if (info.name == name) return info.dtype;
    return std::nullopt;
}

// IEEE half (F16) and bfloat16 bit patterns to float; exact for every value, inf and NaN.
inline float f16_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    const std::uint32_t mant = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
        const float f = std::ldexp(static_cast<float>(mant), -24);
        return sign ? -f : f;
    }
    const std::uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13))           // inf, NaN
                                         : (sign | ((exp + 112u) << 23) | (mant << 13));  // 127-15
    return std::bit_cast<float>(bits);
}
inline float bf16_to_float(std::uint16_t b) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

// One tensor of the header. `begin`/`end` are byte offsets into the data section.
struct SafetensorsTensor {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;

    std::int64_t numel() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    std::string shape_str() const {
        std::string s = "[";
        for (std::size_t i = 0; i < shape.size(); ++i)
            s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
};

// A validated safetensors file held in memory.
namespace detail {

// A regular file mapped read-only. let_go() tells the kernel a range's pages are not needed
// now (they are read from the file again if touched), so RSS stays near what is in use.
class MappedFile {
public:
    // Null when the file cannot be mapped (not a regular file, empty, no mmap): read it instead.
    static std::unique_ptr<MappedFile> open(const std::filesystem::path& path) {
#if defined(__unix__) || defined(__APPLE__)
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return nullptr;
        struct stat st {};
        void* p = MAP_FAILED;
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
            p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
        ::close(fd);  // the mapping keeps the file
        if (p == MAP_FAILED) return nullptr;
        return std::unique_ptr<MappedFile>(new MappedFile(static_cast<const std::byte*>(p), static_cast<std::size_t>(st.st_size)));
#else
        (void)path;
        return nullptr;
#endif
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() {
#if defined(__unix__) || defined(__APPLE__)
        ::munmap(const_cast<std::byte*>(data_), size_);
#endif
    }
    const std::byte* data() const { return data_; }
    std::size_t size() const { return size_; }
    // The whole pages inside [p, p + bytes).
    void let_go(const std::byte* p, std::size_t bytes) const {
#if defined(__unix__) || defined(__APPLE__)
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
        const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) / page * page;
        if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
        (void)p, (void)bytes;
#endif
    }

private:
    MappedFile(const std::byte* data, std::size_t size) : data_(data), size_(size) {}
    const std::byte* data_;
    std::size_t size_;
};

}  // namespace detail

class SafetensorsFile {
public:
    // Maps the file read-only (or, where it cannot be mapped, reads it whole) and validates
    // it; throws Error naming the file (and tensor). Mapped, a model's weights are paged in as
    // they are read and let go after (read_float), never held twice in anonymous memory.
    explicit SafetensorsFile(const std::filesystem::path& path) : where_(path.string()) {
        mapping_ = detail::MappedFile::open(path);
        if (mapping_) {
            data_ = mapping_->data();
            size_ = mapping_->size();
        } else {
            std::ifstream in(path, std::ios::binary | std::ios::ate);
            if (!in) fail(where_, ": cannot open the file");
            const auto size = static_cast<std::size_t>(in.tellg());
            in.seekg(0);
            owned_ = std::make_unique_for_overwrite<std::byte[]>(size ? size : 1);
            in.read(reinterpret_cast<char*>(owned_.get()), static_cast<std::streamsize>(size));
            if (!in) fail(where_, ": read error");
            data_ = owned_.get();
            size_ = size;
        }
        parse();
    }
    // The same from bytes already in memory; `where` names them in errors.
    static SafetensorsFile from_bytes(std::span<const std::byte> bytes, std::string where) {
        SafetensorsFile f;
        f.where_ = std::move(where);
        f.owned_ = std::make_unique_for_overwrite<std::byte[]>(bytes.size() ? bytes.size() : 1);
        std::copy(bytes.begin(), bytes.end(), f.owned_.get());
        f.data_ = f.owned_.get();
        f.size_ = bytes.size();
        f.parse();
        return f;
    }

    const std::string& where() const { return where_; }
    // Tensors in the order of their data in the file.
    const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& t : tensors_) out.push_back(t.name);
        return out;
    }
    bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
    const SafetensorsTensor& tensor(std::string_view name) const {
        auto it = index_.find(name);
        if (it == index_.end()) fail(where_, ": no tensor '", detail::printable(name), "'");
        return tensors_[it->second];
    }
    Dtype dtype(std::string_view name) const { return tensor(name).dtype; }
    const std::vector<std::int64_t>& shape(std::string_view name) const {
        return tensor(name).shape;
    }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The tensor's raw little-endian bytes.
    std::span<const std::byte> bytes(std::string_view name) const {
        const auto& t = tensor(name);
        return {data_ + data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
    }

    // Converts the tensor to float into `out` (numel elements), e.g. straight into a slice of
    // a parameter buffer.
    void read_float(std::string_view name, std::span<float> out) const { read_values(name, out); }
    // The same into bfloat16 (weights kept in bf16): BF16 values copied, F32 and F16 rounded to
    // the nearest (ties to even).
    void read_bf16(std::string_view name, std::span<bfloat16> out) const { read_values(name, out); }

    // The tensor as a new float tensor (rank <= 4, the rank our tensors support).
    Tensor<float, Cpu> to_float(std::string_view name) const {
        const auto& t = tensor(name);
        if (t.shape.size() > static_cast<std::size_t>(Shape::max_rank))
            fail(where_, ": tensor '", detail::printable(name), "': rank ", t.shape.size(), " is above the supported ",
                 Shape::max_rank);
        Tensor<float, Cpu> out(to_shape(t.shape));
        read_float(name, out.span());
        return out;
    }

    static Shape to_shape(const std::vector<std::int64_t>& d) {
        switch (d.size()) {
            case 0: return {};
            case 1: return {d[0]};
            case 2: return {d[0], d[1]};
            case 3: return {d[0], d[1], d[2]};
            case 4: return {d[0], d[1], d[2], d[3]};
            default: TOKCLEAN_CHECK(false, "rank ", d.size());
        }
        return {};
    }

private:
    SafetensorsFile() = default;

    // read_float and read_bf16: T is float or bfloat16.
    template <class T>
    void read_values(std::string_view name, std::span<T> out) const {
        const auto& t = tensor(name);
        if (!dtype_is_readable(t.dtype))
            fail(where_, ": tensor '", detail::printable(name), "': unsupported dtype ", dtype_name(t.dtype),
                 " (tokclean reads F32, F16 and BF16)");
        TOKCLEAN_CHECK(out.size() == static_cast<std::size_t>(t.numel()), "tensor '", name,
                       "' has ", t.numel(), " elements, output ", out.size());
        const std::byte* src = data_ + data_start_ + t.begin;
        const std::size_t n = out.size();
        struct LetGo {  // the tensor's pages, once converted: read again from the file if needed
            const detail::MappedFile* map;
            const std::byte* p;
            std::size_t bytes;
            ~LetGo() {
                if (map) map->let_go(p, bytes);
            }
        } let_go{mapping_.get(), src, static_cast<std::size_t>(t.end - t.begin)};
        // Assemble little-endian values byte by byte: the data section has no alignment
        // guarantee and this is independent of the host's byte order.
        auto u16 = [&](std::size_t i) {
            return static_cast<std::uint16_t>(std::to_integer<unsigned>(src[2 * i]) |
                                              (std::to_integer<unsigned>(src[2 * i + 1]) << 8));
        };
        auto f32 = [&](std::size_t i) {
            std::uint32_t b = 0;
            for (int k = 3; k >= 0; --k) b = (b << 8) | std::to_integer<unsigned>(src[4 * i + k]);
            return std::bit_cast<float>(b);
        };
        constexpr bool to_bf16 = std::is_same_v<T, bfloat16>;
        const auto from_float = [](float x) {
            if constexpr (to_bf16) return to_bfloat16(x);
            else return x;
        };
        switch (t.dtype) {
            case Dtype::F32:
                if constexpr (!to_bf16 && std::endian::native == std::endian::little) {
                    if (n) std::memcpy(out.data(), src, n * 4);
                } else {
                    for (std::size_t i = 0; i < n; ++i) out[i] = from_float(f32(i));
                }
                break;
            case Dtype::F16:
                for (std::size_t i = 0; i < n; ++i) out[i] = from_float(f16_to_float(u16(i)));
                break;
            case Dtype::BF16:
                for (std::size_t i = 0; i < n; ++i) {
                    if constexpr (to_bf16) out[i] = bfloat16{u16(i)};
                    else out[i] = bf16_to_float(u16(i));
                }
                break;
            default: break;  // excluded above
        }
    }

    void parse() {
        if (size_ < 8)
            fail(where_, ": file is ", size_, " bytes, shorter than the 8-byte header length");
        std::uint64_t header_len = 0;
        for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | std::to_integer<unsigned>(data_[k]);
        if (header_len > size_ - 8)
            fail(where_, ": header length ", header_len, " exceeds the ", size_ - 8,
                 " bytes after the length field");
        data_start_ = 8 + static_cast<std::size_t>(header_len);
        const std::uint64_t data_size = size_ - data_start_;
        const char* text = reinterpret_cast<const char*>(data_ + 8);

        // A name given twice (the spec forbids it) or a key given twice inside an entry
        // would otherwise silently keep the last one.
        const std::string_view header_text(text, header_len);
        nlohmann::json header;
        if (const auto fault = detail::parse_json_strict(header_text, header)) {
            if (fault->kind == detail::JsonFault::Kind::duplicate_key)
                fail(where_, fault->path.empty() ? ": tensor '" + fault->key + "' appears more than once in the header"
                                                 : ": header: " + detail::duplicate_key_text(*fault));
            detail::fail_json(*fault, header_text, JsonWhere{where_, 0}, JsonPlace::byte, "header is ");
        }
        if (!header.is_object())
            fail(where_, ": header is not a JSON object but ", json_type_name(header));

        for (const auto& [name, entry] : header.items()) {
            if (name == "__metadata__") {
                parse_metadata(entry);
                continue;
            }
            tensors_.push_back(parse_entry(name, entry, data_size));
        }

        // Tensors must tile the data section: sorted by offset, each starts where the
        // previous one ends, the first at 0 and the last at the end (no holes, no overlap).
        std::stable_sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
        });
        std::uint64_t covered = 0;
        const SafetensorsTensor* prev = nullptr;
        for (const auto& t : tensors_) {
            if (t.begin < covered)
                fail(where_, ": tensors '", detail::printable(prev->name), "' [", prev->begin, ", ", prev->end,
                     "] and '", detail::printable(t.name), "' [", t.begin, ", ", t.end, "] overlap");
            if (t.begin > covered)
                fail(where_, ": bytes [", covered, ", ", t.begin,
                     ") of the data section belong to no tensor (the format forbids holes)");
            covered = t.end;
            prev = &t;
        }
        if (covered != data_size)
            fail(where_, ": bytes [", covered, ", ", data_size,
                 ") of the data section belong to no tensor (the format forbids holes)");
        for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    }

    void parse_metadata(const nlohmann::json& m) {
        if (!m.is_object())
            fail(where_, ": '__metadata__' must be an object of strings, got ", json_type_name(m));
        for (const auto& [key, value] : m.items()) {
            if (!value.is_string())
                fail(where_, ": '__metadata__' field '", detail::printable(key), "': expected a string, got ",
                     json_describe(value));
            metadata_.emplace(key, value.get<std::string>());
        }
    }

    SafetensorsTensor parse_entry(const std::string& name, const nlohmann::json& e,
                                  std::uint64_t data_size) const {
        const std::string at = where_ + ": tensor '" + detail::printable(name) + "'";
        const JsonWhere w{at, 0};
        if (!e.is_object()) fail(at, ": expected an object, got ", json_type_name(e));
        reject_unknown_fields(e, {"dtype", "shape", "data_offsets"}, w);

        SafetensorsTensor t;
        t.name = name;
        const std::string dtype = require_string(e, "dtype", w);
        const auto parsed = parse_dtype(dtype);
        if (!parsed) fail(at, ": unknown dtype '", detail::printable(dtype), "'");
        t.dtype = *parsed;

        const auto& shape = require_field(e, "shape", w);
        if (!shape.is_array())
            fail(at, ": field 'shape': expected a list of non-negative integers, got ",
                 json_describe(shape));
        // numel * dtype size must not overflow 64 bits (a hostile shape could make it wrap
        // around to exactly the span of the offsets).
        std::uint64_t bytes = dtype_size(t.dtype);
        bool too_big = false;
        for (std::size_t i = 0; i < shape.size(); ++i) {
            const auto d = json_to_int(shape[i], "'shape'[" + std::to_string(i) + "]", w, 0);
            t.shape.push_back(d);
            const auto ud = static_cast<std::uint64_t>(d);
            if (ud != 0 && bytes > UINT64_MAX / ud) too_big = true;
            bytes *= ud;
        }
        const bool empty = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
        if (empty) too_big = false, bytes = 0;

        const auto& off = require_field(e, "data_offsets", w);
        if (!off.is_array() || off.size() != 2)
            fail(at, ": field 'data_offsets': expected [begin, end], got ",
                 off.is_array() ? std::to_string(off.size()) + " values" : json_describe(off));
        t.begin = static_cast<std::uint64_t>(json_to_int(off[0], "'data_offsets'[0]", w, 0));
        t.end = static_cast<std::uint64_t>(json_to_int(off[1], "'data_offsets'[1]", w, 0));
        if (t.begin > t.end)
            fail(at, ": data_offsets [", t.begin, ", ", t.end, "] have begin > end");
        if (too_big || t.end - t.begin != bytes)
            fail(at, ": data_offsets [", t.begin, ", ", t.end, "] span ", t.end - t.begin,
                 " bytes but shape ", t.shape_str(), " of ", dtype, " needs ",
                 too_big ? std::string("more than 2^64") : std::to_string(bytes));
        if (t.end > data_size)
            fail(at, ": data_offsets [", t.begin, ", ", t.end, "] exceed the data section of ",
                 data_size, " bytes");
        return t;
    }

    std::string where_;
    std::unique_ptr<detail::MappedFile> mapping_;  // the file mapped, or
    std::unique_ptr<std::byte[]> owned_;           // its bytes read (from_bytes; unmappable files)
    const std::byte* data_ = nullptr;              // the file's bytes, in one of the two
    std::size_t size_ = 0;
    std::size_t data_start_ = 0;
    std::vector<SafetensorsTensor> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: F32 data of `shape` (row-major, contiguous).
struct SafetensorsEntry {
    std::string name;
    const float* data;  // F32 values, or
    Shape shape;
    const bfloat16* bf16 = nullptr;  // BF16 values (data null)
};

// Writes a safetensors file (each tensor F32, or BF16 where the entry has bf16 values) with the
// tensors' data in the given order. The header lists them in the same order; it is padded with
// spaces so that the data section starts at a multiple of 8 bytes (readers may then map the
// values in place).
inline void save_safetensors(const std::filesystem::path& path,
                             std::span<const SafetensorsEntry> entries,
                             const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    std::set<std::string_view> names;
    for (const auto& e : entries) {
        if (e.name == "__metadata__" || e.name.empty())
            fail(path.string(), ": '", detail::printable(e.name), "' cannot be a tensor name");
        if (!names.insert(e.name).second)
            fail(path.string(), ": tensor '", detail::printable(e.name), "' given twice");
        auto shape = nlohmann::ordered_json::array();
        for (int i = 0; i < e.shape.rank(); ++i) shape.push_back(e.shape[i]);
        const std::uint64_t bytes = static_cast<std::uint64_t>(e.shape.numel()) * (e.bf16 ? 2 : 4);
        header[e.name] = {{"dtype", e.bf16 ? "BF16" : "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');

    AtomicFile out(path);
    unsigned char len[8];
    for (int k = 0; k < 8; ++k) len[k] = static_cast<unsigned char>(text.size() >> (8 * k));
    out.write(len, 8);
    out.write(text);
    for (const auto& e : entries) {
        const auto n = static_cast<std::size_t>(e.shape.numel());
        if (e.bf16) {
            if constexpr (std::endian::native == std::endian::little) {
                out.write(e.bf16, n * 2);
            } else {
                for (std::size_t i = 0; i < n; ++i) {
                    const std::uint16_t b = e.bf16[i].bits;
                    const unsigned char le[2] = {static_cast<unsigned char>(b), static_cast<unsigned char>(b >> 8)};
                    out.write(le, 2);
                }
            }
        } else if constexpr (std::endian::native == std::endian::little) {
            out.write(e.data, n * 4);
        } else {
            for (std::size_t i = 0; i < n; ++i) {
                const auto b = std::bit_cast<std::uint32_t>(e.data[i]);
                unsigned char le[4] = {static_cast<unsigned char>(b), static_cast<unsigned char>(b >> 8),
                                       static_cast<unsigned char>(b >> 16),
                                       static_cast<unsigned char>(b >> 24)};
                out.write(le, 4);
            }
        }
    }
    out.commit();
}

}  // namespace tokclean
