// A downstream CUDA program: one product on the device through tokclean::cuda. Building it
// is the check; on a machine without a CUDA device it says so and succeeds.
#include <cstdio>
#include <vector>

#include <tokclean/backend/cuda.cuh>

int main() {
    using namespace tokclean;
    if (!cuda_device_available()) {
        std::printf("consumer_cuda: no device\n");
        return 0;
    }
    const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};  // (2, 2) each
    Tensor<float, Cuda> da(Shape{4}), db(Shape{4}), dc(Shape{4});
    upload(Cuda{}, a.data(), 4, da);
    upload(Cuda{}, b.data(), 4, db);
    matmul(Cuda{}, dc.data(), da.data(), db.data(), 2, 2, 2);
    std::vector<float> c;
    download(Cuda{}, dc.data(), 4, c);
    std::printf("consumer_cuda: %g %g %g %g on %s\n", c[0], c[1], c[2], c[3],
                cuda_detail::context().properties().name);
    return c == std::vector<float>{19, 22, 43, 50} ? 0 : 1;
}
