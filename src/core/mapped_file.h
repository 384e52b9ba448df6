// A read-only memory map of a whole file. Weights are used in place from the page cache, never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace r1 {

class MappedFile {
 public:
  // Throws r1::Error naming the path if the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) text file such as config.json; throws r1::Error naming the path on failure.
std::string read_text_file(const std::string& path);

}  // namespace r1
