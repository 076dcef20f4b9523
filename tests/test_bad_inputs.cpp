// The inventory of tests/README.md ("Inputs and how they can be wrong"), row by row: each
// bad input makes the program exit non-zero with one line naming the file, the line or
// field, and what was expected, and leaves no output behind. Rows marked "accepted" in the
// inventory check the documented behaviour instead. Row ids (J3, C7, ...) are the
// inventory's.
#define BOOST_TEST_MODULE bad_inputs
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <limits>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

// Models and files the rows share, made once.
struct Shared {
    fs::path dir;
    fs::path byte_model, small_bpe_model, bpe_files, other_shape, other_vocab, checkpoint;

    Shared() {
        dir = fs::temp_directory_path() / ("tokclean_bad_inputs_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        byte_model = dir / "byte";
        run("init --out " + byte_model.string() + " --layers 1 --heads 2 --embd 16 --positions 64");
        // The fixture's shape but one layer less, and the fixture's shape with a larger vocabulary.
        other_shape = dir / "one_layer";
        run("init --out " + other_shape.string() + " --vocab 97 --layers 1 --heads 4 --embd 32 --positions 32");
        other_vocab = dir / "vocab120";
        run("init --out " + other_vocab.string() + " --vocab 120 --layers 2 --heads 4 --embd 32 --positions 32");
        // A small byte-level BPE: the 256 byte tokens, "ab", "abc", <|endoftext|>.
        bpe_files = dir / "bpe_files";
        write(bpe_files / "vocab.json", small_vocab().dump());
        write(bpe_files / "merges.txt", "#version: 0.2\na b\nab c\n");
        small_bpe_model = dir / "bpe";
        run("init --out " + small_bpe_model.string() + " --tokenizer " + bpe_files.string() +
            " --layers 1 --heads 2 --embd 8 --positions 32");
        // A checkpoint of an interrupted run: a long run stopped by SIGTERM once it has saved
        // one (it then saves one at the step it is at, and exits 143).
        write_random_pool(dir / "pool.jsonl", 5, 12);
        checkpoint = dir / "ckpt";
        const std::string cmd = "exec " + std::string(TOKCLEAN_BIN) + " --quiet " + checkpoint_run + " --data " +
                                (dir / "pool.jsonl").string() + " --out " + (dir / "never").string() +
                                " --checkpoint-every 2 --checkpoint-dir " + checkpoint.string() + " 2> /dev/null";
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 120000 && !fs::exists(checkpoint / "state.json"); ++i) ::usleep(1000);
        ::kill(pid, SIGTERM);
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 128 + SIGTERM || !fs::exists(checkpoint / "state.json"))
            throw std::runtime_error("could not make the checkpoint fixture");
        checkpoint_step = json::parse(slurp(checkpoint / "state.json")).at("step").get<int>();
    }
    // The run the checkpoint fixture belongs to (plus --data, --out); the checkpoint rows
    // continue it with these settings.
    inline static const std::string checkpoint_run =
        "train --model " + (fixtures / "model").string() + " --steps 1000000 --batch-size 4";
    int checkpoint_step = 0;
    ~Shared() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    void run(const std::string& args) const {
        const std::string cmd = std::string(TOKCLEAN_BIN) + " --quiet " + args + " > /dev/null";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("setup failed: " + args);
    }
    // GPT-2's byte characters as tokens 0..255, then the merged tokens and EOS.
    static json small_vocab() {
        json v = json::object();
        int next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
            std::string s;
            if (c < 0x80) s.push_back(static_cast<char>(c));
            else {
                s.push_back(static_cast<char>(0xC0 | (c >> 6)));
                s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
            }
            v[s] = b;
        }
        v["ab"] = 256;
        v["abc"] = 257;
        v["<|endoftext|>"] = 258;
        return v;
    }
};

const Shared* shared = nullptr;
struct SharedFixture {
    Shared s;
    SharedFixture() { shared = &s; }
    ~SharedFixture() { shared = nullptr; }
};
BOOST_TEST_GLOBAL_FIXTURE(SharedFixture);

// One row: files are written first (name -> bytes, relative to the scratch directory),
// then `args` run ("{s}" stands for the scratch directory); `out` must not appear.
struct Row {
    std::string id;
    std::vector<std::pair<std::string, std::string>> files;
    std::string args;
    std::vector<std::string> needles;
    std::string out = "out.jsonl";
    int exit_code = 0;  // 0: any failure; else exactly this (2 for a bad command line)
};

std::string expand(std::string text, const Scratch& s) {
    const std::pair<std::string, std::string> vars[] = {
        {"{s}", s.path.string()},
        {"{tiny}", (fixtures / "model").string()},
        {"{ref}", (fixtures / "adamw_final").string()},
        {"{byte}", shared->byte_model.string()},
        {"{bpe}", shared->small_bpe_model.string()},
        {"{one_layer}", shared->other_shape.string()},
        {"{vocab120}", shared->other_vocab.string()},
        {"{step}", std::to_string(shared->checkpoint_step)}};
    for (const auto& [var, value] : vars)
        for (std::size_t p; (p = text.find(var)) != std::string::npos;) text.replace(p, var.size(), value);
    return text;
}

void run_rows(const std::vector<Row>& rows) {
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("row " << row.id) {
            Scratch s("_" + row.id);
            for (const auto& [name, bytes] : row.files) write(s / name, bytes);
            const Run r = tokclean("--quiet " + expand(row.args, s), s);
            std::vector<std::string> needles;
            for (const auto& n : row.needles) needles.push_back(expand(n, s));
            BOOST_TEST(r.exit_code != 0);
            if (row.exit_code != 0) BOOST_TEST(r.exit_code == row.exit_code, "exit status " << r.exit_code);
            BOOST_TEST(lines_of(r.err) == 1u, "stderr: " << r.err);
            BOOST_TEST(r.err.starts_with("tokclean: error: "), "stderr: " << r.err);
            BOOST_TEST(r.out.empty(), "stdout: " << r.out);
            for (const auto& n : needles) BOOST_TEST(r.err.find(n) != std::string::npos, "'" << n << "' not in: " << r.err);
            const fs::path out = s / row.out;
            BOOST_TEST(!fs::exists(out), out << " was created");
            for (const auto& e : fs::directory_iterator(s.path))
                BOOST_TEST(!e.path().filename().string().starts_with("." + row.out), "left behind: " << e.path());
        }
    }
}

const std::string score_tiny = "score --model {tiny} --data {s}/data.jsonl --out {s}/out.jsonl";
const std::string score_byte = "score --model {byte} --data {s}/data.jsonl --out {s}/out.jsonl";
const std::string train_tiny = "train --model {tiny} --data {s}/data.jsonl --out {s}/trained --steps 1";

// The weights directory of the checkpoint fixture ("step_<k>").
std::string step_dir() { return "step_" + std::to_string(shared->checkpoint_step); }

std::string bytes_of(std::initializer_list<unsigned char> b) { return std::string(b.begin(), b.end()); }

// ---- safetensors surgery on the fixture model ------------------------------------------

struct Safetensors {
    json header;
    std::string data;
    static Safetensors read(const fs::path& p) {
        const std::string bytes = slurp(p);
        std::uint64_t n = 0;
        for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(k)]);
        return {json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
    }
    std::string bytes() const {
        std::string h = header.dump();
        h.append((8 - h.size() % 8) % 8, ' ');
        std::string out(8, '\0');
        for (int k = 0; k < 8; ++k) out[static_cast<std::size_t>(k)] = static_cast<char>((h.size() >> (8 * k)) & 0xff);
        return out + h + data;
    }
    // Sets element `i` of an F32 tensor.
    void set_f32(const std::string& name, std::size_t i, float x) {
        const std::size_t at = header[name]["data_offsets"][0].get<std::size_t>() + 4 * i;
        std::memcpy(data.data() + at, &x, 4);
    }
};

// A copy of the fixture model in the scratch directory, with its model.safetensors edited.
std::vector<std::pair<std::string, std::string>> model_with(const std::function<void(Safetensors&)>& edit) {
    Safetensors st = Safetensors::read(fixtures / "model" / "model.safetensors");
    edit(st);
    return {{"m/config.json", slurp(fixtures / "model" / "config.json")}, {"m/model.safetensors", st.bytes()},
            {"data.jsonl", slurp(fixtures / "data.jsonl")}};
}
const std::string score_m = "score --model {s}/m --data {s}/data.jsonl --out {s}/out.jsonl";

// A copy of the fixture model with config.json replaced.
std::vector<std::pair<std::string, std::string>> config_with(const std::string& config) {
    return {{"m/config.json", config}, {"m/model.safetensors", slurp(fixtures / "model" / "model.safetensors")},
            {"data.jsonl", slurp(fixtures / "data.jsonl")}};
}
std::string fixture_config_with(const std::function<void(json&)>& edit) {
    json c = json::parse(slurp(fixtures / "model" / "config.json"));
    edit(c);
    return c.dump(2);
}

}  // namespace

// ---- JSONL data: every format ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(jsonl_rows) {
    const std::string tok_line = "{\"input_ids\": [1, 2, 3]}\n";
    run_rows({
        {"J1", {{"data.jsonl", tok_line + "{\"input_ids\": [4, 5"}}, score_tiny,
         {"{s}/data.jsonl:2: not valid JSON at column 20: syntax error while parsing array - unexpected end of input"}},
        {"J3", {{"data.jsonl", tok_line + "[1, 2]\n"}}, score_tiny, {"data.jsonl:2: expected a JSON object, got an array"}},
        {"J4", {{"data.jsonl", "{\"foo\": 1}\n"}}, score_tiny,
         {"data.jsonl:1: expected a field 'text', 'prompt' and 'completion', 'messages' or 'input_ids'"}},
        {"J5", {{"data.jsonl", "{\"input_ids\": [1], \"ids\": 1}\n"}}, score_tiny,
         {"data.jsonl:1: unknown field 'ids' (expected: input_ids, labels, attention_mask, scores)"}},
        {"J6", {{"data.jsonl", "{\"text\": \"a\", \"id\": 3}\n"}}, score_byte,
         {"data.jsonl:1: unknown field 'id' (expected: text)"}},
        {"J7", {{"data.jsonl", "{\"input_ids\": \"1 2\"}\n"}}, score_tiny,
         {"data.jsonl:1: field 'input_ids': expected an array of integers, got a string"}},
        {"J8", {{"data.jsonl", "{\"input_ids\": [1, 2.5]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'input_ids'[1]: expected an integer, got 2.5"}},
        {"J10", {{"data.jsonl", "{\"input_ids\": [3, -1]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'input_ids'[1]: token id -1 is negative"}},
        {"J12", {{"data.jsonl", "{\"input_ids\": [1, 2], \"labels\": [1, -5]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'labels'[1]: label -5 is neither -100 nor in [0, vocab_size 97)"}},
        {"J13", {{"data.jsonl", "{\"input_ids\": []}\n"}}, score_tiny, {"data.jsonl:1: field 'input_ids': empty sequence"}},
        {"J14", {{"data.jsonl", "{\"input_ids\": [1e400]}\n"}}, score_tiny,
         {"data.jsonl:1: not valid JSON: number overflow"}},
        {"J15", {{"data.jsonl", "{\"input_ids\": [1, 99999999999999999999]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'input_ids'[1]: expected an integer, got 1e+20"}},
        {"J16", {{"data.jsonl", "{\"input_ids\": [1, 2], \"labels\": [-100, -100]}\n{\"input_ids\": [5]}\n"}},
         train_tiny, {"data.jsonl: no target tokens in any example"}, "trained"},
        {"J16b", {{"data.jsonl", "{\"input_ids\": [1, 2], \"labels\": [-100, -100]}\n{\"input_ids\": [5]}\n"}},
         "evolve --base {tiny} --data {s}/data.jsonl --out {s}/evolved --chunks 2 --steps 1",
         {"data.jsonl: no target tokens in any example"}, "evolved"},
        {"J17", {{"data.jsonl", "\n  \n\n"}}, score_tiny, {"data.jsonl: no examples"}},
        {"J36", {{"data.jsonl", tok_line + "{\"input_ids\": [1, 2, 3], \"input_ids\": [4, 5, 6], \"labels\": [1, 2, 3]}\n"}},
         score_tiny, {"data.jsonl:2: duplicate key 'input_ids' (a JSON object may name a field once)"}},
        {"J37", {{"data.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, "
                                 "{\"role\": \"assistant\", \"role\": \"user\", \"content\": \"b\"}]}\n"}},
         score_byte, {"data.jsonl:1: field 'messages'[1]: duplicate key 'role'"}},
        {"J18", {}, "score --model {tiny} --data {s}/missing.jsonl --out {s}/out.jsonl", {"missing.jsonl: cannot open the file"}},
        {"J19", {{"data.jsonl/x", ""}}, score_tiny, {"data.jsonl: is a directory, not a JSONL file"}},
        {"J21", {{"data.jsonl", "{\"text\": 5}\n"}}, score_byte, {"data.jsonl:1: field 'text': expected a string, got 5"}},
        {"J22", {{"data.jsonl", "{\"text\": \"\"}\n"}}, score_byte, {"data.jsonl:1: field 'text': empty text"}},
        {"J24", {{"data.jsonl", "{\"prompt\": \"a\"}\n"}}, score_byte, {"data.jsonl:1: missing required field 'completion'"}},
        {"J25", {{"data.jsonl", "{\"prompt\": [\"a\"], \"completion\": \"b\"}\n"}}, score_byte,
         {"data.jsonl:1: field 'prompt': expected a string, got an array"}},
        {"J27a", {{"data.jsonl", "{\"messages\": {\"role\": \"user\"}}\n"}}, score_byte,
         {"data.jsonl:1: field 'messages': expected a non-empty array"}},
        {"J27b", {{"data.jsonl", "{\"messages\": [{\"role\": \"bot\", \"content\": \"a\"}]}\n"}}, score_byte,
         {"data.jsonl:1: field 'messages'[0].role: unknown role \"bot\""}},
        {"J27c", {{"data.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n"}}, score_byte,
         {"data.jsonl:1: field 'messages': no assistant turn"}},
        {"J27d", {{"data.jsonl", "{\"messages\": [{\"role\": \"assistant\", \"content\": 7}]}\n"}}, score_byte,
         {"data.jsonl:1: field 'messages'[0].content: expected a string, got 7"}},
        {"J27e", {{"data.jsonl", "{\"messages\": [{\"role\": \"assistant\"}]}\n"}}, score_byte,
         {"data.jsonl:1: field 'messages'[0]: missing required field 'content'"}},
        {"J29", {{"data.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"caf" + bytes_of({0xe9}) + "\"}\n"}}, score_byte,
         {"data.jsonl:2: not valid UTF-8 at column 14 (byte 0xe9; JSON text must be UTF-8"}},
        {"J30", {{"data.jsonl", "{\"prompt\": \"" + bytes_of({0xff, 0xfe}) + "\", \"completion\": \"b\"}\n"}}, score_byte,
         {"data.jsonl:1: not valid UTF-8 at column 13 (byte 0xff"}},
        {"J31", {{"data.jsonl", "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x" + bytes_of({0xc3, 0x28}) +
                                    "\"}]}\n"}},
         score_byte, {"data.jsonl:1: not valid UTF-8 at column 50 (byte 0xc3"}},
        {"J32", {{"data.jsonl", "{\"text\": \"\\ud800x\"}\n"}}, score_byte,
         {"data.jsonl:1: not valid JSON at column", "surrogate"}},
        {"J33", {{"data.jsonl", "{\"input_ids\": [1, 2], \"attention_mask\": [1, 0]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'attention_mask'[1]: 0 (padding inside an example is not supported"}},
        {"L1", {{"data.jsonl", "{\"input_ids\": [1, 2], \"labels\": [1, 2], \"scores\": [null]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'scores': length 1 differs from the length 2 of 'input_ids'"}},
        {"L2", {{"data.jsonl", "{\"input_ids\": [1, 2], \"scores\": [null, \"high\"]}\n"}}, score_tiny,
         {"data.jsonl:1: field 'scores'[1]: expected a number or null, got a string"}},
        {"J34", {{"data.jsonl", tok_line}}, score_tiny + " --seq-len 64", {"--seq-len: 64 exceeds the model's n_positions = 32"}},
    });
}

// Rows that are accepted by design: an empty response trains on its EOS; unknown config.json
// fields are ignored; non-UTF-8 never reaches a tokenizer (JSON must be UTF-8), while UTF-8
// text of any script does.
BOOST_AUTO_TEST_CASE(accepted_rows) {
    Scratch s;
    write(s / "data.jsonl",
          "{\"prompt\": \"q\", \"completion\": \"\"}\n"                                  // J26
          "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"\"}]}\n"  // J28
          "{\"text\": \"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}\n");                     // J35
    const Run r = tokclean("--quiet score --model " + shared->byte_model.string() + " --data " + s.str("data.jsonl") +
                               " --out " + s.str("out.jsonl"), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto rows = read_jsonl(s / "out.jsonl");
    BOOST_REQUIRE_EQUAL(rows.size(), 3u);
    BOOST_TEST(rows[0]["losses"].size() == 2u);  // "q" + EOS: the EOS is the one target
    BOOST_TEST(rows[0]["losses"][1].is_number());
    BOOST_TEST(rows[2]["losses"].size() == 9u);  // 9 UTF-8 bytes, one token each

    json c = json::parse(slurp(fixtures / "model" / "config.json"));  // C11
    c["torch_dtype"] = "float32";
    c["task_specific_params"] = {{"text-generation", {{"max_length", 50}}}};
    write(s / "m" / "config.json", c.dump());
    fs::copy_file(fixtures / "model" / "model.safetensors", s / "m" / "model.safetensors");
    const Run c11 = tokclean("--quiet score --model " + s.str("m") + " --data " + (fixtures / "data.jsonl").string() +
                                 " --out " + s.str("out2.jsonl"), s);
    BOOST_TEST(c11.exit_code == 0, c11.err);
}

// ---- config.json -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(config_rows) {
    const std::string good = slurp(fixtures / "model" / "config.json");
    run_rows({
        {"C1", {{"m/model.safetensors", "x"}, {"data.jsonl", "{\"input_ids\": [1]}\n"}}, score_m,
         {"{s}/m/config.json: cannot open the file"}},
        {"C2", config_with(good.substr(0, good.size() / 2)), score_m, {"{s}/m/config.json: not valid JSON at byte"}},
        {"C3", config_with(fixture_config_with([](json& c) { c["n_layer"] = "2"; })), score_m,
         {"m/config.json: field 'n_layer': expected an integer, got a string (\"2\")"}},
        {"C5a", config_with(fixture_config_with([](json& c) { c["n_head"] = 3; })), score_m,
         {"m/config.json: field 'n_embd': 32 is not divisible by n_head = 3"}},
        {"C5b", config_with(fixture_config_with([](json& c) { c["n_positions"] = -4; })), score_m,
         {"m/config.json: field 'n_positions': expected a positive integer, got -4"}},
        {"C6", config_with(fixture_config_with([](json& c) { c["model_type"] = "bert"; })), score_m,
         {"m/config.json: field 'model_type': \"bert\" is not supported (tokclean reads gpt2, llama, mistral, qwen2 and qwen3)"}},
        {"C7", config_with(fixture_config_with([](json& c) { c["activation_function"] = "relu"; })), score_m,
         {"m/config.json: field 'activation_function'", "is not supported"}},
        {"C8", config_with(fixture_config_with([](json& c) { c["eos_token_id"] = 97; })), score_m,
         {"m/config.json: field 'eos_token_id': 97 is outside [0, vocab_size = 97)"}},
        {"C9", config_with(fixture_config_with([](json& c) { c["layer_norm_epsilon"] = 1e300; })), score_m,
         {"m/config.json: field 'layer_norm_epsilon': expected a number in (0, 1]"}},
        {"C10", config_with(fixture_config_with([](json& c) { c["n_embd"] = 1 << 20; c["n_layer"] = 1 << 20; })), score_m,
         {"m/config.json: n_layer 1048576, n_embd 1048576", "more than the 2^40 tokclean can hold"}},
        {"C12", config_with("[1, 2]"), score_m, {"m/config.json: expected a JSON object, got an array"}},
        {"C13", config_with("{\"model_type\": \"gpt" + bytes_of({0xe2, 0x82}) + "\"}"), score_m,
         {"m/config.json: not valid UTF-8 at byte 20 (byte 0xe2"}},
        {"C14", config_with(fixture_config_with([](json& c) { c["tokclean_tokenizer"] = "sentencepiece"; })), score_m,
         {"m/config.json: field 'tokclean_tokenizer': expected \"byte\", \"gpt2-bpe\" or \"none\""}},
        {"C15", {{"data.jsonl", "{\"input_ids\": [1]}\n"}}, "score --model {s}/nothing --data {s}/data.jsonl --out {s}/out.jsonl",
         {"{s}/nothing: not a model directory"}},
        {"C16", config_with("{\"n_layer\": 2, " + good.substr(good.find('{') + 1)), score_m,
         {"m/config.json: duplicate key 'n_layer' (a JSON object may name a field once)"}},
    });
}

// ---- model.safetensors -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(safetensors_rows) {
    const std::string file = slurp(fixtures / "model" / "model.safetensors");
    const auto with_file = [&](const std::string& bytes) {
        return std::vector<std::pair<std::string, std::string>>{{"m/config.json", slurp(fixtures / "model" / "config.json")},
                                                                {"m/model.safetensors", bytes},
                                                                {"data.jsonl", slurp(fixtures / "data.jsonl")}};
    };
    const auto set_f32 = [](const std::string& name, std::size_t i, float x) {
        return [=](Safetensors& st) { st.set_f32(name, i, x); };
    };
    run_rows({
        {"S2", with_file(""), score_m, {"m/model.safetensors: file is 0 bytes, shorter than the 8-byte header length"}},
        {"S3", with_file(file.substr(0, 100)), score_m, {"m/model.safetensors: header length", "exceeds the 92 bytes"}},
        {"S4", {{"m/config.json", slurp(fixtures / "model" / "config.json")}, {"data.jsonl", "{\"input_ids\": [1]}\n"}},
         score_m, {"m/model.safetensors: cannot open the file"}},
        {"S5", with_file(std::string("\x07\0\0\0\0\0\0\0{\"a\": 1", 15)), score_m,
         {"m/model.safetensors: header is not valid JSON"}},
        {"S6", model_with([](Safetensors& st) { st.header["wte.weight"]["dtype"] = "I32"; }), score_m,
         {"m/model.safetensors: tensor 'wte.weight': unsupported dtype I32 (tokclean reads F32, F16 and BF16)"}},
        {"S7", model_with([](Safetensors& st) { st.header["h.1.ln_2.bias"]["dtype"] = "F16"; }), score_m,
         {"m/model.safetensors: tensor 'h.1.ln_2.bias': data_offsets", "span 128 bytes but shape [32] of F16 needs 64"}},
        {"S8", model_with([](Safetensors& st) {
             auto e = st.header["ln_f.bias"];
             st.header.erase("ln_f.bias");
             st.header["ln_f.beta"] = e;
         }),
         score_m, {"m/model.safetensors: unknown tensor 'ln_f.beta' (not a GPT-2 parameter)"}},
        {"S9", model_with([](Safetensors& st) { st.header["wpe.weight"]["shape"] = {16, 64}; }), score_m,
         {"m/model.safetensors: tensor 'wpe.weight': shape [16, 64] but config.json implies [32, 32]"}},
        {"S10", model_with(set_f32("h.0.ln_1.weight", 3, std::numeric_limits<float>::quiet_NaN())), score_m,
         {"m/model.safetensors: tensor 'h.0.ln_1.weight': element 3 is nan (weights must be finite)"}},
        {"S11", model_with(set_f32("h.1.mlp.c_fc.weight", 17, std::numeric_limits<float>::infinity())), score_m,
         {"m/model.safetensors: tensor 'h.1.mlp.c_fc.weight': element 17 is inf (weights must be finite)"}},
        {"S11b", model_with(set_f32("wte.weight", 0, -std::numeric_limits<float>::infinity())), score_m,
         {"m/model.safetensors: tensor 'wte.weight': element 0 is -inf"}},
        {"S12", {{"m/config.json", fixture_config_with([](json& c) { c["vocab_size"] = 2000000; })},
                 {"m/model.safetensors", file}, {"data.jsonl", slurp(fixtures / "data.jsonl")}},
         score_m, {"m/model.safetensors: tensor 'wte.weight': shape [97, 32] but config.json implies [2000000, 32]"}},
        {"S13", model_with([](Safetensors& st) { st.header.erase("h.0.attn.c_proj.bias"); }), score_m,
         {"m/model.safetensors: bytes", "belong to no tensor"}},
        {"S15", with_file([&] {
             // "dtype" twice in the entry of wte.weight (a JSON object cannot hold it: edit the text).
             Safetensors st = Safetensors::read(fixtures / "model" / "model.safetensors");
             std::string bytes = st.bytes();
             const std::size_t at = bytes.find("\"dtype\":\"F32\"");
             bytes.replace(at, 13, "\"dtype\":\"F16\",\"dtype\":\"F32\"");
             const std::uint64_t n = bytes.size() - 8 - st.data.size();
             for (int k = 0; k < 8; ++k) bytes[static_cast<std::size_t>(k)] = static_cast<char>((n >> (8 * k)) & 0xff);
             return bytes;
         }()),
         score_m, {"m/model.safetensors: header: field '", "duplicate key 'dtype'"}},
    });
}

// ---- a second model: reference, warm-up ------------------------------------------------------

BOOST_AUTO_TEST_CASE(model_pair_rows) {
    const std::vector<std::pair<std::string, std::string>> pool = {{"data.jsonl", slurp(fixtures / "data.jsonl")}};
    run_rows({
        {"M1", pool, "clean --base {tiny} --ref {one_layer} --data {s}/data.jsonl --out {s}/out.jsonl",
         {"{one_layer}/config.json: field 'n_layer': 1, but the base model {tiny} has 2 (the reference model must have "
          "the base model's shape)"}},
        {"M2", pool, "clean --base {tiny} --ref {vocab120} --data {s}/data.jsonl --out {s}/out.jsonl",
         {"{vocab120}/config.json: field 'vocab_size': 120, but the base model {tiny} has 97"}},
        {"M3", pool, "evolve --base {tiny} --warmup {one_layer} --data {s}/data.jsonl --out {s}/evolved --chunks 2",
         {"{one_layer}/config.json: field 'n_layer': 1", "(the warm-up model must have the base model's shape)"}, "evolved"},
        {"M4", pool, "train --model {tiny} --ref {vocab120} --select batch --data {s}/data.jsonl --out {s}/trained --steps 1",
         {"{vocab120}/config.json: field 'vocab_size': 120"}, "trained"},
        {"M5", {{"data.jsonl", "{\"text\": \"abc\"}\n"}}, "clean --base {byte} --ref {bpe} --data {s}/data.jsonl --out {s}/out.jsonl",
         {"{bpe}/config.json: field 'n_embd': 8, but the base model {byte} has 16"}},
    });
}

// ---- tokenizer files --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(tokenizer_rows) {
    const std::string vocab = Shared::small_vocab().dump(), merges = "#version: 0.2\na b\nab c\n";
    json gap = Shared::small_vocab();
    gap.erase("ab");  // ids 0..255, 257, 258: 256 is missing
    const std::string without_ab = gap.dump();
    const auto model = [&](const std::string& v, const std::string& m) {
        std::vector<std::pair<std::string, std::string>> files = {
            {"m/config.json", slurp(shared->small_bpe_model / "config.json")},
            {"m/model.safetensors", slurp(shared->small_bpe_model / "model.safetensors")},
            {"data.jsonl", "{\"text\": \"abc abc\"}\n"}};
        if (!v.empty()) files.emplace_back("m/vocab.json", v);
        if (!m.empty()) files.emplace_back("m/merges.txt", m);
        return files;
    };
    const auto tokenizer_json = [&](const std::string& text) {
        auto files = model("", "");
        files.emplace_back("m/tokenizer.json", text);
        return files;
    };
    json tj;
    tj["model"] = {{"type", "BPE"}, {"vocab", Shared::small_vocab()}, {"merges", {"a b", "ab c"}}};
    tj["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
    const std::string tok_json = tj.dump();
    json unigram = tj;
    unigram["model"]["type"] = "Unigram";
    const std::string tokenize = "tokenize --model {s}/m --data {s}/data.jsonl --out {s}/out.jsonl";
    run_rows({
        {"T1", model(vocab.substr(0, vocab.size() - 40), merges), tokenize, {"{s}/m/vocab.json:1: not valid JSON at column"}},
        {"T2", model("[\"a\", \"b\"]", merges), tokenize, {"m/vocab.json: expected a JSON object of token -> id, got an array"}},
        {"T3", model("{\"a\": \"0\"}", merges), tokenize, {"m/vocab.json: token \"a\": expected an integer id, got a string"}},
        {"T4", model(without_ab, merges), tokenize, {"m/vocab.json: no token has id 256"}},
        {"T5", model(vocab, "#version: 0.2\na b\nabc\n"), tokenize,
         {"m/merges.txt:3: expected two tokens separated by one space, got \"abc\""}},
        {"T6", model(vocab, "a b\nab z\n"), tokenize, {"m/merges.txt:2: the merged token \"abz\" is not in the vocabulary"}},
        {"T7", model(vocab, ""), tokenize, {"m/merges.txt: missing (vocab.json is there; GPT-2 BPE needs both)"}},
        {"T8", tokenizer_json(tok_json.substr(0, tok_json.size() / 2)), tokenize, {"m/tokenizer.json:1: not valid JSON"}},
        {"T9", tokenizer_json(unigram.dump()), tokenize,
         {"m/tokenizer.json: field 'model.type': expected \"BPE\""}},
        {"T10", tokenizer_json("{\"model\": \"" + bytes_of({0xc0, 0xaf}) + "\"}"), tokenize,
         {"m/tokenizer.json:1: not valid UTF-8 at column 12 (byte 0xc0"}},
        {"T11", {{"data.jsonl", "{\"text\": \"x\"}\n"}}, "init --out {s}/out.jsonl --tokenizer {s}/nowhere",
         {"--tokenizer: {s}/nowhere: no such file or directory"}},
        {"T12", model("{\"a\": 0, \"a\": 1}", merges), tokenize, {"m/vocab.json: duplicate key 'a'"}},
        {"T13", tokenizer_json("{\"model\": {\"type\": \"BPE\", \"type\": \"BPE\"}}"), tokenize,
         {"m/tokenizer.json: field 'model': duplicate key 'type'"}},
        {"T14", model(vocab, "a b\nzz c\n"), tokenize, {"m/merges.txt:2: the left part \"zz\" is not in the vocabulary"}},
    });
}

// A Llama-family model with a tokenizer.json (Llama-3's pre-tokenizer over the small byte-level
// vocabulary, <|eot|> added) and a chat template, as a downloaded directory has them.
BOOST_AUTO_TEST_CASE(hf_tokenizer_and_chat_template_rows) {
    json vocab = Shared::small_vocab();
    const int eot = static_cast<int>(vocab.size());
    json tj;
    tj["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c"}}, {"ignore_merges", true}};
    tj["added_tokens"] = json::array({{{"id", eot}, {"content", "<|eot|>"}, {"special", true}}});
    tj["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers", json::array({{{"type", "Split"},
                                                           {"pattern", {{"Regex", R"(\p{L}+|\s+|[^\s\p{L}]+)"}}},
                                                           {"behavior", "Isolated"}},
                                                          {{"type", "ByteLevel"}, {"use_regex", false}}})}};
    tj["decoder"] = {{"type", "ByteLevel"}};
    const std::string chat =
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}<|eot|>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    const json config = {{"eos_token", "<|eot|>"}, {"chat_template", chat}};
    // The model: init from these files, then each row replaces one of them.
    Scratch base("_hf_base");
    write(base / "tok" / "tokenizer.json", tj.dump());
    write(base / "tok" / "tokenizer_config.json", config.dump());
    const Run init = tokclean("--quiet init --out " + (base / "m").string() + " --arch llama --tokenizer " +
                                  (base / "tok").string() + " --layers 1 --heads 2 --embd 8 --positions 64", base);
    BOOST_REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    const auto model = [&](const std::string& tokenizer_json, const std::string& tokenizer_config, const std::string& data) {
        return std::vector<std::pair<std::string, std::string>>{
            {"m/config.json", slurp(base / "m" / "config.json")},
            {"m/model.safetensors", slurp(base / "m" / "model.safetensors")},
            {"m/tokenizer.json", tokenizer_json},
            {"m/tokenizer_config.json", tokenizer_config},
            {"data.jsonl", data}};
    };
    const std::string good_json = tj.dump(), good_config = config.dump();
    const std::string messages = R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "abc"}]})" "\n";
    const std::string tokenize = "tokenize --model {s}/m --data {s}/data.jsonl --out {s}/out.jsonl";
    const auto edited = [&](const std::function<void(json&)>& edit) {
        json j = tj;
        edit(j);
        return j.dump();
    };
    const auto config_with = [&](const std::string& source) {
        json c = config;
        c["chat_template"] = source;
        return c.dump();
    };
    json big = tj;
    big["added_tokens"].push_back({{"id", 5000}, {"content", "<|far|>"}, {"special", true}});
    run_rows({
        {"T15", model(edited([](json& j) { j["normalizer"] = {{"type", "BertNormalizer"}}; }), good_config, messages), tokenize,
         {"{s}/m/tokenizer.json: field 'normalizer': normalizer \"BertNormalizer\" is not supported"}},
        {"T16", model(edited([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\d+|(?<=a)b"; }), good_config, messages),
         tokenize, {"m/tokenizer.json: field 'pre_tokenizer.pretokenizers[0].pattern.Regex': at offset 0 of the pattern: the escape \\d"}},
        {"T17", model(big.dump(), good_config, messages), tokenize,
         {"m/tokenizer.json: ids up to 5000, more than the model's vocab_size 260"}},
        {"T18", model(good_json, config_with("{% macro f() %}{% endmacro %}"), messages), tokenize,
         {"m/tokenizer_config.json: chat_template:1:4: unsupported statement 'macro'"}},
        {"T19", model(good_json, config_with("{{ raise_exception('roles must alternate') }}"), messages), tokenize,
         {"data.jsonl:1: field 'messages': ", "roles must alternate"}},
        {"T20", model(good_json, good_config.substr(0, good_config.size() / 2), messages), tokenize,
         {"m/tokenizer_config.json:1: not valid JSON"}},
        {"T21", model(good_json, config_with("{{ messages[0].content.nope.x }}"), messages), tokenize,
         {"data.jsonl:1: field 'messages': ", "chat_template:1:"}},
        {"T22", {{"tok/tokenizer.json", good_json}, {"tok/tokenizer_config.json", "{}"}},
         "init --out {s}/out.jsonl --arch llama --tokenizer {s}/tok",
         {"--tokenizer: {s}/tok/tokenizer_config.json: no eos_token"}},
    });
    // And the good files are read: the assistant turn "abc<|eot|>" is the target.
    Scratch s("_hf_good");
    for (const auto& [name, bytes] : model(good_json, good_config, messages)) write(s / name, bytes);
    const Run r = tokclean("--quiet " + expand(tokenize, s), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const json got = json::parse(slurp(s / "out.jsonl"));
    std::vector<int> targets;
    for (const auto& y : got["labels"])
        if (y != -100) targets.push_back(y.get<int>());
    BOOST_TEST(targets == (std::vector<int>{256 + 1, eot}));  // "abc", <|eot|>
}

// ---- checkpoints of train, work directories of evolve ----------------------------------------

BOOST_AUTO_TEST_CASE(checkpoint_rows) {
    const auto ckpt_with = [](const std::function<void(const fs::path&)>& edit) {
        // The shared checkpoint copied to {s}/trained.ckpt (the default of --out {s}/trained).
        std::vector<std::pair<std::string, std::string>> files = {{"data.jsonl", slurp(shared->dir / "pool.jsonl")}};
        const fs::path tmp = fs::temp_directory_path() / ("tokclean_ckpt_edit_" + std::to_string(::getpid()));
        fs::remove_all(tmp);
        fs::copy(shared->checkpoint, tmp, fs::copy_options::recursive);
        edit(tmp);
        for (const auto& e : fs::recursive_directory_iterator(tmp))
            if (e.is_regular_file())
                files.emplace_back("trained.ckpt/" + fs::relative(e.path(), tmp).string(), slurp(e.path()));
        fs::remove_all(tmp);
        return files;
    };
    const auto unchanged = [](const fs::path&) {};
    const std::string train = Shared::checkpoint_run + " --data {s}/data.jsonl --out {s}/trained";
    const auto state = [](const fs::path& d) { return json::parse(slurp(d / "state.json")); };
    run_rows({
        {"K1", ckpt_with(unchanged), train,
         {"{s}/trained.ckpt/state.json: a checkpoint of an interrupted run is here (step {step}): add --resume to continue it, "
          "or remove {s}/trained.ckpt to start afresh"}, "trained"},
        {"K2", ckpt_with(unchanged), train + " --resume --lr 0.002",
         {"trained.ckpt/state.json: the checkpoint belongs to a run with --lr 0.0001, this run has 0.002"}, "trained"},
        {"K3", ckpt_with(unchanged), Shared::checkpoint_run + " --data {tiny}/../data.jsonl --out {s}/trained --resume",
         {"trained.ckpt/state.json: the checkpoint belongs to a run with --data"}, "trained"},
        {"K4", ckpt_with([](const fs::path& d) { fs::resize_file(d / "state.json", 40); }), train + " --resume",
         {"trained.ckpt/state.json: not valid JSON at byte"}, "trained"},
        {"K5", ckpt_with([&](const fs::path& d) {
             json j = state(d);
             j["version"] = 7;
             write(d / "state.json", j.dump());
         }),
         train + " --resume", {"trained.ckpt/state.json: field 'version': 7 is not supported"}, "trained"},
        {"K6", ckpt_with([](const fs::path& d) { fs::resize_file(d / step_dir() / "model.safetensors", 1000); }),
         train + " --resume", {"trained.ckpt/step_{step}/model.safetensors: "}, "trained"},
        {"K7", ckpt_with([](const fs::path& d) { fs::remove(d / step_dir() / "optimizer.safetensors"); }), train + " --resume",
         {"trained.ckpt/step_{step}/optimizer.safetensors: cannot open the file"}, "trained"},
        {"K8", ckpt_with([](const fs::path& d) {
             Safetensors st = Safetensors::read(d / step_dir() / "optimizer.safetensors");
             st.set_f32("exp_avg_sq", 5, -1.0f);
             write(d / step_dir() / "optimizer.safetensors", st.bytes());
         }),
         train + " --resume",
         {"trained.ckpt/step_{step}/optimizer.safetensors: tensor 'exp_avg_sq': element 5 is -1 (expected finite and >= 0)"},
         "trained"},
        {"K9", ckpt_with([&](const fs::path& d) {
             json j = state(d);
             j["schedule"]["epoch_rng"][2] = "xyz";
             write(d / "state.json", j.dump());
         }),
         train + " --resume", {"trained.ckpt/state.json: field 'schedule'.epoch_rng: expected hexadecimal strings"},
         "trained"},
        {"K10", ckpt_with([](const fs::path& d) { fs::rename(d / step_dir(), d / "step_x"); }), train + " --resume",
         {"trained.ckpt/step_{step}: not a model directory"}, "trained"},
        {"K12", {{"data.jsonl", slurp(shared->dir / "pool.jsonl")}}, train + " --checkpoint-every -3",
         {"--checkpoint-every: expected an integer >= 0, got -3"}, "trained", 2},
        {"E1", {{"data.jsonl", slurp(shared->dir / "pool.jsonl")}, {"evolved.work/progress.json", "{\"chunks_done\": 1,"}},
         "evolve --base {tiny} --data {s}/data.jsonl --out {s}/evolved --chunks 2 --steps 1",
         {"evolved.work/progress.json: not valid JSON (remove the work directory to start afresh)"}, "evolved"},
        {"E2", {{"data.jsonl", slurp(shared->dir / "pool.jsonl")},
                {"evolved.work/progress.json", "{\"fingerprint\": \"other\", \"chunks_done\": 1}"}},
         "evolve --base {tiny} --data {s}/data.jsonl --out {s}/evolved --chunks 2 --steps 1",
         {"evolved.work/progress.json: the work directory belongs to a run with other inputs or settings"}, "evolved"},
        {"E3", {{"data.jsonl", slurp(shared->dir / "pool.jsonl")},
                {"evolved.work/progress.json", "{\"fingerprint\": 7, \"chunks_done\": \"one\"}"}},
         "evolve --base {tiny} --data {s}/data.jsonl --out {s}/evolved --chunks 2 --steps 1",
         {"evolved.work/progress.json: expected {\"fingerprint\": string, \"chunks_done\": 0..2}"}, "evolved"},
    });
}

// --resume without a checkpoint starts at step 0 (scripts can always pass it).
BOOST_AUTO_TEST_CASE(resume_without_a_checkpoint_starts_afresh) {
    Scratch s;
    write_random_pool(s / "data.jsonl", 3, 8);
    const Run r = tokclean("train --model " + (fixtures / "model").string() + " --data " + s.str("data.jsonl") +
                               " --out " + s.str("trained") + " --steps 2 --resume", s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(r.err.find("--resume: no checkpoint in " + s.str("trained.ckpt") + "; starting at step 0") != std::string::npos,
               r.err);
    BOOST_TEST(fs::exists(s / "trained" / "model.safetensors"));
    BOOST_TEST(!fs::exists(s / "trained.ckpt"));
}

// ---- outputs ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(output_rows) {
    const std::vector<std::pair<std::string, std::string>> data = {{"data.jsonl", slurp(fixtures / "data.jsonl")},
                                                                   {"file", "not a directory"}};
    run_rows({
        {"O1", data, "train --model {tiny} --data {s}/data.jsonl --out {s}/file --steps 1",
         {"{s}/file: exists and is not a directory"}, "file.ckpt"},
        {"O2", data, "score --model {tiny} --data {s}/data.jsonl --out {s}/file/losses.jsonl",
         {"{s}/file/losses.jsonl: cannot create the directory '{s}/file'"}, "file.x"},
    });
    // An existing output directory where a file goes: the directory stays as it was.
    Scratch s;
    fs::create_directories(s / "dir" / "keep");
    const Run r = tokclean("--quiet score --model " + (fixtures / "model").string() + " --data " +
                               (fixtures / "data.jsonl").string() + " --out " + s.str("dir"), s);
    expect_failure(r, {s.str("dir") + ": is a directory (a file goes here)"}, {});
    BOOST_TEST(fs::exists(s / "dir" / "keep"));
    BOOST_TEST(std::distance(fs::directory_iterator(s.path), fs::directory_iterator{}) == 3);  // dir, stdout, stderr
}

// ---- the command line: every number in its range, every parse error exit status 2 ------------

BOOST_AUTO_TEST_CASE(flag_rows) {
    const std::vector<std::pair<std::string, std::string>> data = {{"data.jsonl", slurp(fixtures / "data.jsonl")}};
    const std::string clean = "clean --base {tiny} --ref {ref} --data {s}/data.jsonl --out {s}/out.jsonl";
    const std::string train = "train --model {tiny} --data {s}/data.jsonl --out {s}/trained";
    const std::string evolve = "evolve --base {tiny} --data {s}/data.jsonl --out {s}/evolved --steps 1";
    run_rows({
        {"F1", data, clean + " --select batch --select-batch -1", {"--select-batch: expected an integer >= 1, got -1"},
         "out.jsonl", 2},
        {"F2", data, train + " --steps -5", {"--steps: expected an integer >= 1, got -5"}, "trained", 2},
        {"F3", data, train + " --steps 0", {"--steps: expected an integer >= 1, got 0"}, "trained", 2},
        {"F4", data, train + " --epochs -1", {"--epochs: expected an integer >= 1, got -1"}, "trained", 2},
        {"F5", data, train + " --grad-clip -1", {"--grad-clip: expected a finite number >= 0, got -1"}, "trained", 2},
        {"F6", data, score_tiny + " --seq-len -1", {"--seq-len: expected an integer >= 1, got -1"}, "out.jsonl", 2},
        {"F7", data, "--threads -1 " + score_tiny, {"--threads: expected an integer >= 0, got -1"}, "out.jsonl", 2},
        {"F8", {}, "init --out {s}/m --vocab -5", {"--vocab: expected an integer >= 1, got -5"}, "m", 2},
        {"F9", data, clean + " --keep nan", {"--keep: expected a fraction in [0, 1], got nan"}, "out.jsonl", 2},
        {"F10", data, clean + " --keep 1.5", {"--keep: expected a fraction in [0, 1], got 1.5"}, "out.jsonl", 2},
        {"F11", data, train + " --lr inf", {"--lr: expected a finite number >= 0, got inf"}, "trained", 2},
        {"F12", data, train + " --weight-decay nan", {"--weight-decay: expected a finite number >= 0, got nan"}, "trained",
         2},
        {"F13", data, train + " --warmup-ratio 2", {"--warmup-ratio: expected a fraction in [0, 1], got 2"}, "trained", 2},
        {"F14", data, clean + " --min-keep -1", {"--min-keep: expected an integer >= 0, got -1"}, "out.jsonl", 2},
        {"F15", data, clean + " --select threshold --threshold nan", {"--threshold: expected a finite number, got nan"},
         "out.jsonl", 2},
        {"F16", data, evolve + " --chunks 1", {"--chunks: expected an integer >= 2, got 1"}, "evolved", 2},
        {"F17", data, score_tiny + " --batch-size -1", {"--batch-size: expected an integer >= 0, got -1"}, "out.jsonl", 2},
        {"F18", {}, "init --out {s}/m --layers 0", {"--layers: expected an integer >= 1, got 0"}, "m", 2},
        {"F19", data, train + " --batch-size 1 --epochs 9223372036854775807",
         {"epochs: 9223372036854775807 epochs of 4 steps overflow the step count"}, "trained", 1},
        {"F20", data, train + " --steps 99999999999999999999", {"--steps: expected an integer, got 99999999999999999999 (too large)"},
         "trained", 2},
        {"F21", data, clean + " --select best", {"--select: expected global|sample|batch|threshold|positive|random|auto, got 'best'"},
         "out.jsonl", 2},
        {"F22", {{"c.jsonl", "{\"input_ids\": [5, 9], \"labels\": [-100, 9], \"scores\": [null, 1]}\n"}},
         "report --data {s}/c.jsonl --out {s}/out.html --max-examples -1", {"--max-examples: expected an integer >= 0, got -1"},
         "out.html", 2},
    });
}

BOOST_AUTO_TEST_CASE(command_line_rows) {
    const std::vector<std::pair<std::string, std::string>> data = {{"data.jsonl", slurp(fixtures / "data.jsonl")}};
    const std::string hint = "(tokclean --help lists the verbs, tokclean VERB --help their flags)";
    run_rows({
        {"X1", data, "", {"A subcommand is required", hint}, "out.jsonl", 2},
        {"X2", data, "scorch --model {tiny}", {hint}, "out.jsonl", 2},
        {"X3", data, "score --model {tiny} --out {s}/out.jsonl", {"--data is required", hint}, "out.jsonl", 2},
        {"X4", data, score_tiny + " --bogus 1", {"The following arguments were not expected", hint}, "out.jsonl", 2},
        {"X5", data, "train --model {tiny} --data {s}/data.jsonl --out {s}/trained --steps 1 --epochs 1",
         {"--epochs excludes --steps", hint}, "trained", 2},
        {"X6", data, score_tiny + " --batch-size two", {"--batch-size: expected an integer, got 'two'"}, "out.jsonl", 2},
        {"X7", data, "--device gpu " + score_tiny, {"--device: expected cpu|cuda, got 'gpu'"}, "out.jsonl", 2},
        {"X8", data, score_tiny + " --seq-len", {"--seq-len: 1 required", "missing", hint}, "out.jsonl", 2},
    });
    // Help is not an error: status 0, the text on stdout.
    Scratch s;
    const Run help = tokclean("score --help", s);
    BOOST_TEST(help.exit_code == 0);
    BOOST_TEST(help.out.find("--batch-size") != std::string::npos);
}

// ---- numbers that overflow: never accepted, never written as "not a target" ----------------

BOOST_AUTO_TEST_CASE(non_finite_rows) {
    const auto huge_weight = [](Safetensors& st) {
        for (std::size_t i = 0; i < 32; ++i) st.set_f32("h.1.mlp.c_proj.weight", i * 33, 3e38f);
    };
    const std::vector<std::pair<std::string, std::string>> data = {{"data.jsonl", slurp(fixtures / "data.jsonl")}};
    run_rows({
        {"N1", data, "train --model {tiny} --data {s}/data.jsonl --out {s}/trained --steps 3 --lr 1e30",
         {"training step 2 of 3: the loss is nan (the model's numbers overflow: lower the learning rate"}, "trained"},
        {"N2", model_with(huge_weight), score_m,
         {"{s}/data.jsonl:1: token ", ": the model's loss is nan (its weights or activations overflow; a target's loss "
                                         "is never written as null)"}},
        {"N3", model_with(huge_weight), "eval --model {s}/m --data {s}/data.jsonl",
         {"{s}/data.jsonl:1: token ", ": the model's loss is nan"}},
        {"N4", model_with(huge_weight), "clean --base {s}/m --ref {ref} --data {s}/data.jsonl --out {s}/out.jsonl",
         {"score is", "(non-finite scores are never ranked)"}},
    });
}

// A truncated merges.txt still loads (every merge is valid), with one warning that it cannot
// make the whole vocabulary.
BOOST_AUTO_TEST_CASE(truncated_merges_are_accepted_with_a_warning) {
    Scratch s;
    fs::copy(shared->small_bpe_model, s / "m", fs::copy_options::recursive);
    write(s / "m" / "merges.txt", "#version: 0.2\na b\n");  // "abc" (id 257) is made by no merge now
    write(s / "data.jsonl", "{\"text\": \"abc\"}\n");
    const Run r = tokclean("tokenize --model " + s.str("m") + " --data " + s.str("data.jsonl") + " --out " +
                               s.str("out.jsonl"), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(r.err.find("warning: " + s.str("m/merges.txt") + ": 1 tokens of the vocabulary are made by no merge "
                          "(e.g. \"abc\")") != std::string::npos,
               r.err);
}
