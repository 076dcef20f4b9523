#pragma once
// Finding and loading the GPU plugin (cuda_verbs.hpp) at run time. It lies beside the program
// in the build tree, and in LIBDIR/tokclean once installed (TOKCLEAN_CUDA_PLUGIN_RELDIR, relative
// to the program's directory).
#include <dlfcn.h>

#include <filesystem>
#include <string>

#include "cuda_verbs.hpp"

namespace tokclean::cli {

// Whether the NVIDIA driver is installed. Without it there is no device, and the plugin (with
// cuBLAS and cuDNN) need not be loaded to find that out. The handle stays open: the plugin's
// cudart loads the same library again.
inline bool cuda_driver_present() { return dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) != nullptr; }

// The plugin's verbs; nullptr, with the reason in `why`, when it cannot be loaded.
inline const CudaVerbs* load_cuda_plugin(std::string& why) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    why = "cannot load the GPU backend";
    if (ec || dir.empty()) {  // never a relative search: that would load a library from the working directory
        why += ": cannot find the program's directory (/proc/self/exe)";
        return nullptr;
    }
    for (const fs::path& file : {dir / cuda_plugin_file, dir / TOKCLEAN_CUDA_PLUGIN_RELDIR / cuda_plugin_file}) {
        if (!fs::exists(file, ec)) continue;
        void* plugin = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!plugin) {
            why += std::string(": ") + dlerror();
            return nullptr;
        }
        using Entry = const CudaVerbs* (*)();
        const auto entry = reinterpret_cast<Entry>(dlsym(plugin, cuda_plugin_entry));
        const CudaVerbs* verbs = entry ? entry() : nullptr;
        if (verbs && verbs->abi == cuda_plugin_abi) return verbs;
        why += ": " + file.string() + " was built from another version of tokclean";
        return nullptr;
    }
    why += std::string(": ") + cuda_plugin_file + " is neither in " + dir.string() + " nor in " +
           (dir / TOKCLEAN_CUDA_PLUGIN_RELDIR).lexically_normal().string();
    return nullptr;
}

}  // namespace tokclean::cli
