// Nothing a user owns is ever lost (tests/README.md, "What a run may write, and what never"):
// each case runs the program inside a scratch directory of the user's files, then checks the
// directory file by file. Path options that name the user's files are refused before any work,
// existing directories are replaced only when nothing in them would be lost, damaged work
// directories are reported, runs lock what they write, and stopped runs leave no temporaries.
#define BOOST_TEST_MODULE user_data
#include <boost/test/unit_test.hpp>

#include <map>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

const std::string tiny = (fixtures / "model").string();

// Every regular file under `dir` (relative path -> bytes) and every directory (-> "<dir>").
using Snapshot = std::map<std::string, std::string>;
Snapshot snapshot(const fs::path& dir) {
    Snapshot out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string rel = fs::relative(e.path(), dir).string();
        out[rel] = e.is_directory() ? "<dir>" : slurp(e.path());
    }
    return out;
}

// The snapshots are equal, entry by entry (a missing, new or changed file is named).
void expect_same(const Snapshot& before, const Snapshot& after) {
    for (const auto& [name, bytes] : before) {
        const auto it = after.find(name);
        BOOST_TEST((it != after.end()), name << " was removed");
        if (it != after.end()) BOOST_TEST((it->second == bytes), name << " was changed");
    }
    for (const auto& [name, bytes] : after) BOOST_TEST(before.count(name) == 1u, name << " was created");
}

// A user's project: data, notes, a model, in `s / "home"`; commands run there (cwd), and
// their stdout/stderr land outside it.
struct Home {
    Scratch s;
    fs::path dir;
    Home() : dir(s / "home") {
        fs::create_directories(dir / "proj");
        write_random_pool(dir / "d.jsonl", 3, 12);
        write(dir / "notes.txt", "my notes\n");
        fs::copy(fixtures / "model", dir / "M", fs::copy_options::recursive);
        write(dir / "M" / "README.md", "the user's model card\n");
        fs::copy_file(dir / "d.jsonl", dir / "proj" / "d.jsonl");
    }
    Run run(const std::string& args) const {
        return tokclean("--quiet " + args, s, "", dir);
    }
};

}  // namespace

// Item 1: --checkpoint-dir and --work name a directory tokclean owns, never the user's.
BOOST_AUTO_TEST_CASE(checkpoint_and_work_directories_that_are_not_tokclean_s_are_refused) {
    Home h;
    const Snapshot before = snapshot(h.dir);
    const std::string train = "train --model M --data d.jsonl --steps 2 ";
    const std::string evolve = "evolve --base M --data d.jsonl --chunks 2 --steps 1 ";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {train + "--out tr --checkpoint-dir .", "--checkpoint-dir '.': contains --out 'tr'"},
        {train + "--out ../tr --checkpoint-dir .", "--checkpoint-dir '.': contains --model 'M'"},
        {train + "--out tr --checkpoint-dir tr", "--out 'tr': is also --checkpoint-dir 'tr'"},
        {train + "--out tr --checkpoint-dir M", "--checkpoint-dir 'M': is also --model 'M'"},
        {train + "--out tr --checkpoint-dir d.jsonl", "--checkpoint-dir 'd.jsonl': is also --data 'd.jsonl'"},
        {train + "--out tr --checkpoint-dir notes.txt",
         "notes.txt: exists and is not a directory (the checkpoint directory must be a directory tokclean creates)"},
        {train + "--out tr --checkpoint-dir proj",
         "proj: exists and is not a tokclean checkpoint directory (it holds 'd.jsonl' and no .tokclean marker)"},
        {evolve + "--out ev --work .", "--work '.': contains --out 'ev'"},
        {evolve + "--out ../ev --work .", "--work '.': contains --base 'M'"},
        {evolve + "--out ev --work proj", "proj: exists and is not a tokclean work directory"},
        {evolve + "--out ev --work M", "--work 'M': is also --base 'M'"},
    };
    for (const auto& [args, needle] : cases) {
        BOOST_TEST_CONTEXT(args) {
            const Run r = h.run(args);
            expect_failure(r, {needle}, {});
            expect_same(before, snapshot(h.dir));
        }
    }
}

// Item 1: at the end of a run, only what tokclean wrote goes; a file the user put into the
// checkpoint directory stays, and so does a directory the user made.
BOOST_AUTO_TEST_CASE(a_finished_run_removes_only_what_tokclean_wrote) {
    Home h;
    // A directory the user made (empty) as the checkpoint directory: used, then left empty.
    fs::create_directories(h.dir / "mine");
    Run r = h.run("train --model M --data d.jsonl --out tr --steps 4 --checkpoint-every 1 --checkpoint-dir mine");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(fs::is_directory(h.dir / "mine"));
    BOOST_TEST(fs::is_empty(h.dir / "mine"));
    // A checkpoint tokclean made, where the user then drops a file: resumed and finished, the
    // checkpoint goes, the file and its directory stay.
    write_random_pool(h.dir / "big.jsonl", 5, 200);
    const std::string abs_args = "train --model " + (h.dir / "M").string() + " --data " + (h.dir / "big.jsonl").string() +
                                 " --out " + (h.dir / "t2").string() + " --steps 4000 --checkpoint-every 2";
    {
        Background run("--quiet " + abs_args, h.s);
        BOOST_REQUIRE(run.wait_for([&] { return fs::exists(h.dir / "t2.ckpt" / "state.json"); }));
        run.signal(SIGTERM);
        BOOST_TEST(run.wait() == 128 + SIGTERM);
    }
    write(h.dir / "t2.ckpt" / "my-notes.txt", "keep me\n");
    r = h.run("train --model M --data big.jsonl --out t2 --steps 4000 --checkpoint-every 2 --resume");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(fs::exists(h.dir / "t2" / "model.safetensors"));
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(h.dir / "t2.ckpt")) left.push_back(e.path().filename().string());
    BOOST_TEST(left == std::vector<std::string>{"my-notes.txt"}, "left: " << left.size());
    BOOST_TEST(slurp(h.dir / "t2.ckpt" / "my-notes.txt") == "keep me\n");
}

// Item 2: an existing --out directory is replaced only when it holds nothing but the files
// written anew; otherwise refused (before the work), or written into with --force.
BOOST_AUTO_TEST_CASE(an_existing_output_directory_loses_nothing) {
    Home h;
    write(h.dir / "proj" / "keep.txt", "mine\n");
    const Snapshot before = snapshot(h.dir);
    for (const std::string& args : {std::string("train --model M --data d.jsonl --out proj --steps 1"),
                                    std::string("init --out proj --vocab 97 --layers 1 --heads 2 --embd 8"),
                                    std::string("evolve --base M --data d.jsonl --out proj --chunks 2 --steps 1")}) {
        BOOST_TEST_CONTEXT(args) {
            const Run r = h.run(args);
            expect_failure(r, {"proj: exists and holds '", "which the new directory would not keep", "(--force)"}, {});
            expect_same(before, snapshot(h.dir));
        }
    }
    // --force: the model lands beside the user's files.
    Run r = h.run("train --model M --data d.jsonl --out proj --steps 1 --force");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(slurp(h.dir / "proj" / "keep.txt") == "mine\n");
    BOOST_TEST(slurp(h.dir / "proj" / "d.jsonl") == slurp(h.dir / "d.jsonl"));
    BOOST_TEST(fs::exists(h.dir / "proj" / "model.safetensors"));
    // A model directory written again over itself: replaced (nothing but its own files).
    r = h.run("train --model M --data d.jsonl --out tr --steps 1");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = h.run("train --model M --data d.jsonl --out tr --steps 2");
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    // ... but not once the user added a file.
    write(h.dir / "tr" / "generation_config.json", "{}");
    r = h.run("train --model M --data d.jsonl --out tr --steps 2");
    expect_failure(r, {"tr: exists and holds 'generation_config.json'"}, {});
    BOOST_TEST(fs::exists(h.dir / "tr" / "generation_config.json"));
}

// Item 3: no verb writes over an input, into one, or over a directory that holds one.
BOOST_AUTO_TEST_CASE(an_output_that_is_an_input_is_refused_by_every_verb) {
    Home h;
    fs::create_directories(h.dir / "R");
    fs::copy(fixtures / "adamw_final", h.dir / "R", fs::copy_options::recursive);
    const Snapshot before = snapshot(h.dir);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"score --model M --data d.jsonl --out d.jsonl", "--out 'd.jsonl': is also --data 'd.jsonl'"},
        {"score --model M --data d.jsonl --out ./d.jsonl", "--out './d.jsonl': is also --data 'd.jsonl'"},
        {"tokenize --model M --data d.jsonl --out d.jsonl", "--out 'd.jsonl': is also --data 'd.jsonl'"},
        {"clean --base M --ref R --data d.jsonl --out d.jsonl", "--out 'd.jsonl': is also --data 'd.jsonl'"},
        {"clean --base M --ref R --data d.jsonl --out M/c.jsonl", "--out 'M/c.jsonl': lies inside --base 'M'"},
        {"train --model M --data d.jsonl --out M --steps 1", "--out 'M': is also --model 'M'"},
        {"train --model M --data d.jsonl --out R --steps 1 --ref R --select batch", "--out 'R': is also --ref 'R'"},
        {"train --model M --data proj/d.jsonl --out proj --steps 1", "--out 'proj': contains --data 'proj/d.jsonl'"},
        {"train --model M --data d.jsonl --out . --steps 1", "--out '.': contains --model 'M'"},
        {"evolve --base M --data d.jsonl --out M --chunks 2 --steps 1", "--out 'M': is also --base 'M'"},
        {"evolve --base M --data d.jsonl --out ev --warmup ev --chunks 2 --steps 1", "--out 'ev': is also --warmup 'ev'"},
        {"init --out M --vocab 97", "M: exists and holds 'README.md'"},
        {"report --data d.jsonl --out d.jsonl", "--out 'd.jsonl': is also --data 'd.jsonl'"},
    };
    for (const auto& [args, needle] : cases) {
        BOOST_TEST_CONTEXT(args) {
            expect_failure(h.run(args), {needle}, {});
            expect_same(before, snapshot(h.dir));
        }
    }
    // A hard link to the data is the data.
    fs::create_hard_link(h.dir / "d.jsonl", h.dir / "link.jsonl");
    expect_failure(h.run("score --model M --data d.jsonl --out link.jsonl"), {"--out 'link.jsonl': is also --data"}, {});
    BOOST_TEST(slurp(h.dir / "link.jsonl") == before.at("d.jsonl"));
}

// Item 7: an output that cannot be written is reported before the work, not after it.
BOOST_AUTO_TEST_CASE(unwritable_outputs_are_reported_before_the_work) {
    Home h;
    write_random_pool(h.dir / "big.jsonl", 9, 400);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"train --model M --data big.jsonl --out notes.txt --epochs 50", "notes.txt: exists and is not a directory"},
        {"score --model M --data big.jsonl --out proj", "proj: is a directory (a file goes here)"},
        {"score --model M --data big.jsonl --out notes.txt/s.jsonl", "cannot create the directory 'notes.txt'"},
        {"evolve --base M --data big.jsonl --out notes.txt --chunks 2 --epochs 50",
         "notes.txt: exists and is not a directory"},
    };
    const Snapshot before = snapshot(h.dir);
    for (const auto& [args, needle] : cases) {
        BOOST_TEST_CONTEXT(args) {
            const auto t0 = std::chrono::steady_clock::now();
            expect_failure(h.run(args), {needle}, {});
            // Refused up front: no 50 epochs of training first (they take seconds; this, milliseconds).
            BOOST_TEST(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 5.0);
            expect_same(before, snapshot(h.dir));
        }
    }
}

// Item 4: evolve's finished chunks are read back with every check; a damaged work directory
// is reported (file, line) with the way out, and nothing is written.
BOOST_AUTO_TEST_CASE(a_damaged_evolve_work_directory_is_reported) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 13, 90);
    const std::string args = "evolve --base " + tiny + " --data " + s.str("pool.jsonl") +
                             " --chunks 3 --epochs 20 --batch-size 4 --lr 1e-3 --out " + s.str("ev");
    const fs::path work = s / "ev.work";
    {
        Background run(args, s);
        // Two of the three chunks finished (chunk 0 trains on every target and is never read back).
        BOOST_REQUIRE_MESSAGE(run.wait_for([&] { return fs::exists(work / "chunk_1.jsonl"); }), run.err());
        run.signal(SIGTERM);
        BOOST_TEST(run.wait() == 128 + SIGTERM);
    }
    BOOST_REQUIRE(!fs::exists(s / "ev"));
    const fs::path saved = s / "saved.work";
    fs::copy(work, saved, fs::copy_options::recursive);
    const auto restore = [&] {
        fs::remove_all(work);
        fs::copy(saved, work, fs::copy_options::recursive);
    };
    const std::string way_out = "(the work directory " + work.string() + " is damaged: remove it, or name another one";
    // A missing chunk file (read as empty, it used to give a short cleaned.jsonl and exit 0).
    fs::remove(work / "chunk_1.jsonl");
    // (The work directory stays, so expect_failure is not asked about a sibling of ev.)
    expect_failure(tokclean("--quiet " + args, s), {(work / "chunk_1.jsonl").string() + ": cannot open the file", way_out},
                   {});
    BOOST_TEST(!fs::exists(s / "ev"));
    // A truncated chunk file.
    restore();
    const std::string chunk = slurp(work / "chunk_1.jsonl");
    write(work / "chunk_1.jsonl", chunk.substr(0, chunk.size() / 2));
    const Run r = tokclean("--quiet " + args, s);
    expect_failure(r, {(work / "chunk_1.jsonl").string() + ":", way_out}, {});
    BOOST_TEST(!fs::exists(s / "ev"));
    BOOST_TEST(r.err.find("json.exception") == std::string::npos, r.err);
    // A line that is not the pool's example.
    restore();
    std::string edited = chunk;
    edited.replace(edited.find("[") + 1, 1, edited[edited.find("[") + 1] == '1' ? "2" : "1");
    write(work / "chunk_1.jsonl", edited);
    expect_failure(tokclean("--quiet " + args, s), {(work / "chunk_1.jsonl").string() + ":1: does not match example 0 of the chunk (line 31 of the data)",
                                                    way_out},
                   {});
    BOOST_TEST(!fs::exists(s / "ev"));
    // Intact, it resumes and finishes.
    restore();
    const Run ok = tokclean("--quiet " + args, s);
    BOOST_REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
    BOOST_TEST(read_jsonl(s / "ev" / "cleaned.jsonl").size() == 90u);
    BOOST_TEST(!fs::exists(work));
}

// Item 8: a directory a run writes is locked; a second run is refused, naming the holder.
BOOST_AUTO_TEST_CASE(a_second_run_on_the_same_directories_is_refused) {
    Scratch s;
    write_random_pool(s / "big.jsonl", 7, 400);
    const std::string train = "train --model " + tiny + " --data " + s.str("big.jsonl") +
                              " --steps 100000 --batch-size 32 --checkpoint-every 5 --checkpoint-dir " + s.str("ck");
    Background first("--quiet " + train + " --out " + s.str("a"), s);
    BOOST_REQUIRE(first.wait_for([&] { return fs::exists(s / "ck" / "state.json"); }));
    const std::string holder = "is in use by another tokclean run (pid ";
    // --resume of the running run's checkpoint, to another output.
    expect_failure(tokclean("--quiet " + train + " --out " + s.str("second") + " --resume", s),
                   {s.str("ck") + " " + holder}, s / "second");
    // Another run to the same output.
    expect_failure(tokclean("--quiet train --model " + tiny + " --data " + s.str("big.jsonl") + " --steps 1 --out " +
                                s.str("a") + " --checkpoint-dir " + s.str("ck2"),
                            s),
                   {s.str("a") + " " + holder}, {});
    BOOST_TEST(first.running());
    first.signal(SIGTERM);
    BOOST_TEST(first.wait() == 128 + SIGTERM);
    // Once the holder is gone, so is its lock: the checkpoint is free again.
    BOOST_TEST(!fs::exists(s / "ck" / ".tokclean.lock"));
    BOOST_TEST(fs::exists(s / "ck" / "state.json"));
}

// Item 10: score, tokenize and clean stop on SIGINT/SIGTERM without leaving a temporary, and
// a rerun removes the temporaries of dead runs (never those of a live one).
BOOST_AUTO_TEST_CASE(stopped_runs_leave_no_temporaries) {
    Scratch s;
    write_random_pool(s / "big.jsonl", 5, 20000);
    const std::string data = " --data " + s.str("big.jsonl") + " --out " + s.str("out.jsonl");
    for (const auto& [verb, sig] : std::vector<std::pair<std::string, int>>{
             {"score --model " + tiny + " --batch-size 1", SIGINT},
             {"clean --base " + tiny + " --ref " + (fixtures / "adamw_final").string() + " --batch-size 1", SIGTERM}}) {
        BOOST_TEST_CONTEXT(verb) {
            Background run(verb + data, s);
            // Started: its temporary is there.
            BOOST_REQUIRE(run.wait_for([&] {
                for (const auto& e : fs::directory_iterator(s.path))
                    if (e.path().filename().string().starts_with(".out.jsonl.tmp.")) return true;
                return false;
            }));
            run.signal(sig);
            BOOST_TEST(run.wait() == 128 + sig);
            BOOST_TEST(run.err().find("stopped, no output written") != std::string::npos, run.err());
            for (const auto& e : fs::directory_iterator(s.path))
                BOOST_TEST(!e.path().filename().string().starts_with(".out.jsonl"), "left behind: " << e.path());
        }
    }
    // Temporaries of a dead process (a SIGKILL) go at the next run; a live process's stay.
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ::waitpid(dead, nullptr, 0);
    const std::string stale = ".out.jsonl.tmp." + std::to_string(dead) + ".0.123";
    const std::string live = ".out.jsonl.tmp." + std::to_string(::getpid()) + ".0.456";
    const std::string stale_dir = ".m.tmp." + std::to_string(dead) + ".3.99";
    write(s / stale, "half a file");
    write(s / live, "being written");
    write(s / stale_dir / "model.safetensors", "half a model");
    write_random_pool(s / "small.jsonl", 5, 4);
    Run r = tokclean("--quiet score --model " + tiny + " --data " + s.str("small.jsonl") + " --out " + s.str("out.jsonl"), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(!fs::exists(s / stale));
    BOOST_TEST(fs::exists(s / live));
    r = tokclean("--quiet init --out " + s.str("m") + " --vocab 97 --layers 1 --heads 2 --embd 8", s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(!fs::exists(s / stale_dir));
}

// Item 11: a checkpoint records what was read, so a resume from a pipe is checked too.
BOOST_AUTO_TEST_CASE(resume_from_a_pipe_checks_the_data_it_reads) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 11, 40);
    write_random_pool(s / "other.jsonl", 12, 40);
    const std::string args = "train --model " + tiny + " --data /dev/stdin --out " + s.str("piped") +
                             " --steps 100000 --batch-size 4 --checkpoint-every 5";
    {
        Background run("--quiet " + args + " < " + s.str("pool.jsonl"), s);
        BOOST_REQUIRE(run.wait_for([&] { return fs::exists(s / "piped.ckpt" / "state.json"); }));
        run.signal(SIGTERM);
        BOOST_TEST(run.wait() == 128 + SIGTERM);
    }
    // Other data through the pipe: refused.
    Run r = tokclean("--quiet " + args + " --resume < " + s.str("other.jsonl"), s);
    expect_failure(r, {"the checkpoint belongs to a run with --data"}, {});
    BOOST_TEST(!fs::exists(s / "piped"));
    // The same data through the pipe: accepted, it resumes.
    Background again(args + " --resume < " + s.str("pool.jsonl"), s);
    BOOST_REQUIRE_MESSAGE(again.wait_for([&] { return again.err().find("resuming at step") != std::string::npos; }),
                          again.err());
    again.signal(SIGTERM);
    BOOST_TEST(again.wait() == 128 + SIGTERM);
}

// Item 13: init out of memory says what it was allocating.
BOOST_AUTO_TEST_CASE(init_out_of_memory_says_what_and_how_big) {
    Scratch s;
    // ~190 TiB of float32: more than any address space, so the allocation fails everywhere.
    Run r = tokclean("--quiet init --out " + s.str("huge") + " --vocab 10 --layers 1000 --heads 1 --embd 65536 "
                                                             "--positions 8",
                     s, "ASAN_OPTIONS=allocator_may_return_null=1");
    // Under AddressSanitizer the failed allocation also prints a "==pid==WARNING" line: not ours.
    std::string ours;
    for (std::size_t at = 0, end; at < r.err.size(); at = end + 1) {
        end = r.err.find('\n', at);
        if (end == std::string::npos) end = r.err.size();
        if (!r.err.compare(at, 2, "==")) continue;
        ours += r.err.substr(at, end - at + 1);
    }
    r.err = ours;
    expect_failure(r, {"--out " + s.str("huge") + ": not enough memory for the ", " parameters (", " MiB of float32)"},
                   s / "huge");
    // A Llama-family shape is measured against the memory available before anything is
    // allocated, and the message says what bf16 would take.
    const Run llama = tokclean("--quiet init --out " + s.str("huge") + " --arch llama --layers 2 --heads 2 --embd 64", s,
                               "TOKCLEAN_MEMORY_LIMIT=1K");
    expect_failure(llama, {"init: the weights need about ", " is available: initialise a smaller shape, or in bf16 (--dtype bf16)"},
                   s / "huge");
}
