#include "gguf_file.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/stat.h>
#include <vector>

#include "errors.h"
#include "ggml.h"
#include "lofi_ggml.h"

namespace lofi {

lofi_gguf *open_gguf(const char *path, std::string &error) {
    struct stat st {};
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        error = std::string("no such file: ") + path;
        return nullptr;
    }
    auto file = std::make_unique<lofi_gguf>();
    file->path = path;
    file->file_size = static_cast<uint64_t>(st.st_size);
    {
        LogCapture capture;
        gguf_init_params params = {/*no_alloc =*/true, /*ctx =*/&file->meta};
        file->ctx = gguf_init_from_file(path, params);
        if (file->ctx == nullptr) {
            std::string reason = capture.last_error();
            error = "not a valid GGUF file" + (reason.empty() ? std::string() : " (" + reason + ")");
            return nullptr;
        }
    }
    file->data_offset = gguf_get_data_offset(file->ctx);
    // GGML's parser reads metadata only; a truncated data section would be found at load time
    // (or not at all with mmap), so check every tensor's range here.
    for (int64_t i = 0; i < gguf_get_n_tensors(file->ctx); i++) {
        uint64_t end = file->data_offset + gguf_get_tensor_offset(file->ctx, i) + gguf_get_tensor_size(file->ctx, i);
        if (end > file->file_size) {
            error = "file is truncated: tensor '" + std::string(gguf_get_tensor_name(file->ctx, i)) + "' ends at byte " +
                    std::to_string(end) + " of " + std::to_string(file->file_size);
            lofi_gguf_close(file.release());
            return nullptr;
        }
    }
    return file.release();
}

} // namespace lofi

struct lofi_gguf_writer {
    gguf_context *ctx = nullptr;
    std::vector<ggml_context *> headers; // one small context per tensor header, for gguf_add_tensor
    std::vector<std::vector<uint8_t>> data;
};

extern "C" {

lofi_gguf *lofi_gguf_open(const char *path, char *err, size_t err_len) {
    std::string error;
    lofi_gguf *file = lofi::open_gguf(path, error);
    if (file == nullptr) {
        lofi::set_error(err, err_len, error);
    }
    return file;
}

void lofi_gguf_close(lofi_gguf *file) {
    if (file == nullptr) {
        return;
    }
    if (file->ctx != nullptr) {
        gguf_free(file->ctx);
    }
    if (file->meta != nullptr) {
        ggml_free(file->meta);
    }
    delete file;
}

int64_t lofi_gguf_tensor_count(const lofi_gguf *file) { return gguf_get_n_tensors(file->ctx); }

bool lofi_gguf_tensor_info(const lofi_gguf *file, int64_t index, lofi_tensor_info *out) {
    if (index < 0 || index >= gguf_get_n_tensors(file->ctx)) {
        return false;
    }
    const char *name = gguf_get_tensor_name(file->ctx, index);
    const ggml_tensor *tensor = ggml_get_tensor(file->meta, name);
    out->name = name;
    out->type = gguf_get_tensor_type(file->ctx, index);
    out->n_dims = ggml_n_dims(tensor);
    for (int d = 0; d < 4; d++) {
        out->ne[d] = tensor->ne[d];
    }
    out->offset = file->data_offset + gguf_get_tensor_offset(file->ctx, index);
    out->nbytes = gguf_get_tensor_size(file->ctx, index);
    return true;
}

bool lofi_gguf_read_tensor(const lofi_gguf *file, int64_t index, void *dst, char *err, size_t err_len) {
    lofi_tensor_info info{};
    if (!lofi_gguf_tensor_info(file, index, &info)) {
        lofi::set_error(err, err_len, "no tensor #" + std::to_string(index));
        return false;
    }
    std::unique_ptr<FILE, int (*)(FILE *)> fp(fopen(file->path.c_str(), "rb"), fclose);
    if (!fp || fseeko(fp.get(), static_cast<off_t>(info.offset), SEEK_SET) != 0 ||
        fread(dst, 1, info.nbytes, fp.get()) != info.nbytes) {
        lofi::set_error(err, err_len, "cannot read tensor '" + std::string(info.name) + "' from " + file->path);
        return false;
    }
    return true;
}

const char *lofi_gguf_get_string(const lofi_gguf *file, const char *key) {
    int64_t id = gguf_find_key(file->ctx, key);
    if (id < 0 || gguf_get_kv_type(file->ctx, id) != GGUF_TYPE_STRING) {
        return nullptr;
    }
    return gguf_get_val_str(file->ctx, id);
}

namespace {
int64_t array_key(const lofi_gguf *file, const char *key, gguf_type element) {
    int64_t id = gguf_find_key(file->ctx, key);
    if (id < 0 || gguf_get_kv_type(file->ctx, id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(file->ctx, id) != element) {
        return -1;
    }
    return id;
}
} // namespace

size_t lofi_gguf_array_len(const lofi_gguf *file, const char *key) {
    int64_t id = gguf_find_key(file->ctx, key);
    return id >= 0 && gguf_get_kv_type(file->ctx, id) == GGUF_TYPE_ARRAY ? gguf_get_arr_n(file->ctx, id) : 0;
}

const char *lofi_gguf_array_string(const lofi_gguf *file, const char *key, size_t index) {
    int64_t id = array_key(file, key, GGUF_TYPE_STRING);
    return id >= 0 && index < gguf_get_arr_n(file->ctx, id) ? gguf_get_arr_str(file->ctx, id, index) : nullptr;
}

bool lofi_gguf_array_f32(const lofi_gguf *file, const char *key, float *dst, size_t n) {
    int64_t id = array_key(file, key, GGUF_TYPE_FLOAT32);
    if (id < 0 || gguf_get_arr_n(file->ctx, id) != n) {
        return false;
    }
    std::memcpy(dst, gguf_get_arr_data(file->ctx, id), n * sizeof(float));
    return true;
}

const uint8_t *lofi_gguf_array_u8(const lofi_gguf *file, const char *key) {
    int64_t id = array_key(file, key, GGUF_TYPE_UINT8);
    return id >= 0 ? static_cast<const uint8_t *>(gguf_get_arr_data(file->ctx, id)) : nullptr;
}

bool lofi_gguf_get_u32(const lofi_gguf *file, const char *key, uint32_t *out) {
    int64_t id = gguf_find_key(file->ctx, key);
    if (id < 0 || gguf_get_kv_type(file->ctx, id) != GGUF_TYPE_UINT32) {
        return false;
    }
    *out = gguf_get_val_u32(file->ctx, id);
    return true;
}

lofi_gguf_writer *lofi_gguf_writer_new(const lofi_gguf *metadata_from) {
    auto *writer = new lofi_gguf_writer();
    writer->ctx = gguf_init_empty();
    gguf_set_kv(writer->ctx, metadata_from->ctx);
    return writer;
}

void lofi_gguf_writer_set_u32(lofi_gguf_writer *writer, const char *key, uint32_t value) {
    gguf_set_val_u32(writer->ctx, key, value);
}

bool lofi_gguf_writer_add_tensor(lofi_gguf_writer *writer, const char *name, int type, int n_dims, const int64_t *ne,
                                 const void *data, size_t nbytes, char *err, size_t err_len) {
    if (type < 0 || type >= GGML_TYPE_COUNT || ggml_get_type_traits(static_cast<ggml_type>(type))->blck_size == 0) {
        lofi::set_error(err, err_len, "unknown tensor type " + std::to_string(type));
        return false;
    }
    if (n_dims < 1 || n_dims > 4 || ne[0] % ggml_blck_size(static_cast<ggml_type>(type)) != 0) {
        lofi::set_error(err, err_len, std::string("bad shape for tensor '") + name + "'");
        return false;
    }
    if (gguf_find_tensor(writer->ctx, name) >= 0) {
        lofi::set_error(err, err_len, std::string("duplicate tensor '") + name + "'");
        return false;
    }
    size_t rows = 1;
    for (int d = 1; d < n_dims; d++) {
        rows *= static_cast<size_t>(ne[d]);
    }
    if (ggml_row_size(static_cast<ggml_type>(type), ne[0]) * rows != nbytes) {
        lofi::set_error(err, err_len, std::string("tensor '") + name + "': size does not match its type and shape");
        return false;
    }
    if (std::strlen(name) >= GGML_MAX_NAME) {
        lofi::set_error(err, err_len, std::string("tensor name '") + name + "' is too long");
        return false;
    }
    ggml_init_params params = {/*mem_size =*/ggml_tensor_overhead(), /*mem_buffer =*/nullptr, /*no_alloc =*/true};
    writer->headers.push_back(ggml_init(params));
    ggml_tensor *tensor = ggml_new_tensor(writer->headers.back(), static_cast<ggml_type>(type), n_dims, ne);
    ggml_set_name(tensor, name);
    writer->data.emplace_back(static_cast<const uint8_t *>(data), static_cast<const uint8_t *>(data) + nbytes);
    gguf_add_tensor(writer->ctx, tensor);
    gguf_set_tensor_data(writer->ctx, name, writer->data.back().data());
    return true;
}

bool lofi_gguf_writer_write(lofi_gguf_writer *writer, const char *path, char *err, size_t err_len) {
    lofi::LogCapture capture;
    if (!gguf_write_to_file(writer->ctx, path, /*only_meta =*/false)) {
        lofi::set_error(err, err_len, std::string("cannot write ") + path + ": " + capture.last_error());
        return false;
    }
    return true;
}

void lofi_gguf_writer_free(lofi_gguf_writer *writer) {
    if (writer == nullptr) {
        return;
    }
    gguf_free(writer->ctx);
    for (ggml_context *header : writer->headers) {
        ggml_free(header);
    }
    delete writer;
}

} // extern "C"
