#pragma once
// A small builder over cuDNN's backend (graph) API: tensors and operations as descriptors,
// an operation graph, the first engine configuration of the heuristics that finalizes into an
// execution plan, and its execution with a variant pack. Building throws tokclean::Error with
// cuDNN's own message; callers that can do without the graph catch it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokclean/backend/cuda/check.cuh"

namespace tokclean::cuda_detail::cudnn_graph {

inline void check(cudnnStatus_t s, const char* what) {
    if (s == CUDNN_STATUS_SUCCESS) return;
    char last[512] = {};
    cudnnGetLastErrorString(last, sizeof last);
    fail("cuDNN ", what, ": ", cudnnGetErrorString(s), last[0] ? " (" : "", last, last[0] ? ")" : "");
}

// One backend descriptor, destroyed with its owner.
class Descriptor {
public:
    explicit Descriptor(cudnnBackendDescriptorType_t type) {
        check(cudnnBackendCreateDescriptor(type, &d_), "cudnnBackendCreateDescriptor");
    }
    ~Descriptor() {
        if (d_) cudnnBackendDestroyDescriptor(d_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;

    template <class T>
    Descriptor& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T& value) {
        check(cudnnBackendSetAttribute(d_, name, type, 1, &value), "cudnnBackendSetAttribute");
        return *this;
    }
    template <class T>
    Descriptor& set_array(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                          const std::vector<T>& values) {
        check(cudnnBackendSetAttribute(d_, name, type, static_cast<std::int64_t>(values.size()), values.data()),
              "cudnnBackendSetAttribute");
        return *this;
    }
    void finalize(const char* what) { check(cudnnBackendFinalize(d_), what); }
    cudnnBackendDescriptor_t get() const { return d_; }

private:
    cudnnBackendDescriptor_t d_ = nullptr;
};

using Dims = std::vector<std::int64_t>;  // 4 entries: (b, h, rows, cols)

// A graph under construction, then its plan. Keeps every descriptor alive as long as the plan.
class Graph {
public:
    // A tensor; uid identifies it in the variant pack (non-virtual) or in the graph (virtual).
    cudnnBackendDescriptor_t tensor(std::int64_t uid, const Dims& dims, const Dims& strides, cudnnDataType_t type,
                                    bool is_virtual, bool by_value = false) {
        Descriptor& t = keep(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
        const std::int64_t alignment = 16;
        t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid)
            .set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, type)
            .set_array(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims)
            .set_array(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides)
            .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment)
            .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, is_virtual)
            .set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, by_value);
        t.finalize("tensor descriptor");
        return t.get();
    }
    // A virtual float32 tensor (an intermediate the fused kernel never writes to memory).
    cudnnBackendDescriptor_t virt(const Dims& dims, const Dims& strides, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
        return tensor(next_virtual_++, dims, strides, type, true);
    }
    // A float32 scalar passed by value at execution.
    cudnnBackendDescriptor_t scalar(std::int64_t uid) {
        return tensor(uid, {1, 1, 1, 1}, {1, 1, 1, 1}, CUDNN_DATA_FLOAT, false, true);
    }

    // y = op(x[, b[, t]]); compute in `math`; axis for GEN_INDEX.
    void pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                   cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y, cudnnDataType_t math = CUDNN_DATA_FLOAT,
                   std::int64_t axis = -1) {
        Descriptor& pw = keep(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
        pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode)
            .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, math);
        if (axis >= 0) pw.set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, axis);
        pw.finalize("pointwise descriptor");
        Descriptor& op = keep(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
        op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, pw.get())
            .set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, x)
            .set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, y);
        if (b) op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, b);
        if (t) op.set(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, t);
        op.finalize("pointwise operation");
        ops_.push_back(op.get());
    }
    // y = reduce(x) over the dimensions where y has extent 1.
    void reduction(cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
        Descriptor& r = keep(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
        r.set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, mode)
            .set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
        r.finalize("reduction descriptor");
        Descriptor& op = keep(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
        op.set(CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, r.get())
            .set(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, x)
            .set(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, y);
        op.finalize("reduction operation");
        ops_.push_back(op.get());
    }
    // c = a · b over the last two dimensions, batched over the first two; float32 accumulation.
    void matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c) {
        Descriptor& m = keep(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
        m.set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
        m.finalize("matmul descriptor");
        Descriptor& op = keep(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
        op.set(CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, m.get())
            .set(CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, a)
            .set(CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, b)
            .set(CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, c);
        op.finalize("matmul operation");
        ops_.push_back(op.get());
    }
    // y: the elements of x under other dimensions / strides (a transpose as a view).
    void reshape(cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
        Descriptor& op = keep(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
        op.set(CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, x)
            .set(CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, y);
        op.finalize("reshape operation");
        ops_.push_back(op.get());
    }

    // The operation graph, and the first engine configuration of heuristics mode A that
    // finalizes into a plan (the fused kernel, when cuDNN recognises the pattern).
    void build_plan(cudnnHandle_t handle) {
        Descriptor& graph = keep(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
        graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle).set_array(
            CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops_);
        graph.finalize("operation graph");
        Descriptor& heur = keep(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, graph.get())
            .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, CUDNN_HEUR_MODE_A);
        heur.finalize("engine heuristics");
        std::int64_t count = 0;
        check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                       &count, nullptr),
              "engine heuristics results");
        std::vector<cudnnBackendDescriptor_t> configs;
        for (std::int64_t i = 0; i < count; ++i) configs.push_back(keep(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
        if (count > 0)
            check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                           count, &count, configs.data()),
                  "engine heuristics results");
        std::string last = "no engine configuration";
        for (std::int64_t i = 0; i < count; ++i) {
            auto plan = std::make_unique<Descriptor>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
            plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle)
                .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, configs[static_cast<std::size_t>(i)]);
            const cudnnStatus_t s = cudnnBackendFinalize(plan->get());
            if (s == CUDNN_STATUS_SUCCESS) {
                check(cudnnBackendGetAttribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                               1, nullptr, &workspace_bytes_),
                      "plan workspace size");
                plan_ = std::move(plan);
                return;
            }
            last = cudnnGetErrorString(s);
        }
        fail("cuDNN: no engine runs this graph (", count, " configurations tried; last: ", last, ")");
    }

    std::int64_t workspace_bytes() const { return workspace_bytes_; }

    // Runs the plan: uids[i] at pointers[i] (device memory, or host memory for by-value scalars).
    void execute(cudnnHandle_t handle, const std::vector<std::int64_t>& uids, const std::vector<void*>& pointers,
                 void* workspace) const {
        Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
        pack.set_array(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids)
            .set_array(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers)
            .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace);
        pack.finalize("variant pack");
        check(cudnnBackendExecute(handle, plan_->get(), pack.get()), "cudnnBackendExecute");
    }

private:
    Descriptor& keep(cudnnBackendDescriptorType_t type) {
        keep_.push_back(std::make_unique<Descriptor>(type));
        return *keep_.back();
    }

    std::vector<std::unique_ptr<Descriptor>> keep_;
    std::vector<cudnnBackendDescriptor_t> ops_;
    std::unique_ptr<Descriptor> plan_;
    std::int64_t workspace_bytes_ = 0;
    std::int64_t next_virtual_ = 1000;
};

}  // namespace tokclean::cuda_detail::cudnn_graph
