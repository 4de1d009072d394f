// Crash-safe writes of a group of files with the GIL released (kedi_edge._fsutil's
// write_atomic_many, whose Python twin documents the protocol): each file is written to
// its temporary name, all are made durable together, then each is moved into place and
// each folder is synced once. A thread that writes outputs beside a thread that runs
// Python would otherwise wait for the GIL after every one of its system calls.
#include "fileio.h"

#if defined(__unix__) || defined(__APPLE__)

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <map>
#include <string>
#include <vector>

namespace py = pybind11;

namespace kedi {
namespace {

// Where an entry's error happened, for the file name Python puts on its OSError.
enum Where { kNowhere = 0, kTemp = 1, kTarget = 2, kFolder = 3 };

struct Entry {
  std::string tmp, path, folder;
  const char* data = nullptr;
  size_t size = 0;
  bool overwrite = false;
  int fd = -1;
  bool tmp_exists = false;  // the temporary name is ours to remove
  bool placed = false;
  int err = 0;
  Where where = kNowhere;

  void fail(int e, Where w) {
    if (!err) {
      err = e;
      where = w;
    }
  }
};

struct Options {
  int mode = 0666;
  int syncfs = 1;  // 0: never, 1: for a file system holding several files, 2: as if it failed
  bool links = true;
  bool renameat2 = true;
  long fail_fsync = -1;  // testing: the fsync of this entry reports EIO
};

// errno of os.link on file systems without hard links (FAT, some network shares).
bool no_links(int e) {
  return e == EPERM || e == EOPNOTSUPP || e == ENOTSUP || e == ENOSYS || e == EMLINK || e == EXDEV;
}

void write_temp(Entry& e, const Options& o) {
  do {
    e.fd = ::open(e.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, o.mode);
  } while (e.fd < 0 && errno == EINTR);
  if (e.fd < 0) return e.fail(errno, kTemp);
  e.tmp_exists = true;
  size_t done = 0;
  while (done < e.size) {
    const ssize_t n = ::write(e.fd, e.data + done, e.size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return e.fail(errno, kNowhere);
    }
    if (n == 0) return e.fail(EIO, kNowhere);  // no progress: never loop on it
    done += static_cast<size_t>(n);
  }
}

void sync_each(std::vector<Entry*>& members, const std::vector<Entry>& all, const Options& o) {
  for (Entry* e : members) {
    const long index = static_cast<long>(e - all.data());
    if (index == o.fail_fsync) {
      e->fail(EIO, kNowhere);
    } else if (::fsync(e->fd) != 0) {
      e->fail(errno, kNowhere);
    }
  }
}

// One syncfs per file system holding several of the files (where it reports errors);
// else, or if it fails, an fsync of each, so that an error is the file's own.
void sync_all(std::vector<Entry>& all, const Options& o) {
  std::map<dev_t, std::vector<Entry*>> by_dev;
  for (Entry& e : all) {
    if (e.err) continue;
    struct stat st;
    if (::fstat(e.fd, &st) != 0) {
      e.fail(errno, kNowhere);
      continue;
    }
    by_dev[st.st_dev].push_back(&e);
  }
  for (auto& kv : by_dev) {
    std::vector<Entry*>& members = kv.second;
    bool synced = false;
#if defined(__linux__)
    if (members.size() > 1 && o.syncfs == 1) synced = ::syncfs(members[0]->fd) == 0;
#endif
    if (!synced) sync_each(members, all, o);
  }
}

// rename(tmp, path) unless path exists; false where renameat2 is not available.
bool renameat2_noreplace(Entry& e) {
#if defined(__linux__) && defined(SYS_renameat2)
  if (::syscall(SYS_renameat2, AT_FDCWD, e.tmp.c_str(), AT_FDCWD, e.path.c_str(), 1u /* NOREPLACE */) == 0) {
    e.placed = true;
    e.tmp_exists = false;
    return true;
  }
  if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == ENOTSUP) return false;
  e.fail(errno, kTarget);
  return true;
#else
  (void)e;
  return false;
#endif
}

void place(Entry& e, const Options& o) {
  if (e.overwrite) {
    if (::rename(e.tmp.c_str(), e.path.c_str()) != 0) return e.fail(errno, kTarget);
    e.placed = true;
    e.tmp_exists = false;
    return;
  }
  if (o.renameat2 && renameat2_noreplace(e)) return;  // one atomic step that refuses an existing name
  if (o.links) {
    if (::link(e.tmp.c_str(), e.path.c_str()) == 0) {  // atomic too, and refuses an existing name
      e.placed = true;
      e.tmp_exists = false;
      ::unlink(e.tmp.c_str());  // the file is in place; a name that cannot be removed stays
      return;
    }
    if (!no_links(errno)) return e.fail(errno, kTarget);
  }
  // Neither primitive exists here: check, then rename (a racing writer of the same name
  // between the two could be replaced).
  struct stat st;
  if (::lstat(e.path.c_str(), &st) == 0) return e.fail(EEXIST, kTarget);
  if (::rename(e.tmp.c_str(), e.path.c_str()) != 0) return e.fail(errno, kTarget);
  e.placed = true;
  e.tmp_exists = false;
}

// Every folder that received a file is synced once; an error there is the error of its
// files (they are in place, but their names may not survive a crash).
void sync_folders(std::vector<Entry>& all) {
  std::map<std::string, int> folders;  // folder -> errno of its sync
  for (Entry& e : all) {
    if (!e.placed || folders.count(e.folder)) continue;
    int err = 0;
    const int fd = ::open(e.folder.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {  // a folder that cannot be opened is not synced (as in the Python twin)
      if (::fsync(fd) != 0) err = errno;
      ::close(fd);
    }
    folders[e.folder] = err;
  }
  for (Entry& e : all) {
    if (e.placed && folders[e.folder]) e.fail(folders[e.folder], kFolder);
  }
}

void write_group(std::vector<Entry>& all, const Options& o) {
  for (Entry& e : all) write_temp(e, o);
  sync_all(all, o);
  for (Entry& e : all) {
    if (e.fd >= 0 && ::close(e.fd) != 0) e.fail(errno, kNowhere);
    e.fd = -1;
  }
  for (Entry& e : all) {
    if (!e.err) place(e, o);
  }
  sync_folders(all);
  for (Entry& e : all) {
    if (e.tmp_exists) ::unlink(e.tmp.c_str());
  }
}

py::list write_files(const py::list& entries, int mode, int syncfs, bool links, bool renameat2, long fail_fsync) {
  if (syncfs < 0 || syncfs > 2) throw py::value_error("_write_files: syncfs must be 0, 1 or 2");
  Options o;
  o.mode = mode;
  o.syncfs = syncfs;
  o.links = links;
  o.renameat2 = renameat2;
  o.fail_fsync = fail_fsync;
  std::vector<Entry> all(entries.size());
  std::vector<py::buffer_info> views;  // keep every buffer exported while the GIL is released
  views.reserve(entries.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const py::tuple t = entries[i].cast<py::tuple>();
    if (t.size() != 5) throw py::value_error("_write_files: entries are (tmp, path, folder, data, overwrite)");
    Entry& e = all[i];
    e.tmp = t[0].cast<py::bytes>();
    e.path = t[1].cast<py::bytes>();
    e.folder = t[2].cast<py::bytes>();
    for (const std::string* name : {&e.tmp, &e.path, &e.folder}) {
      if (name->find('\0') != std::string::npos) throw py::value_error("_write_files: embedded null byte");
    }
    views.push_back(t[3].cast<py::buffer>().request());
    const py::buffer_info& v = views.back();
    if (v.ndim != 1 || v.itemsize != 1 || v.strides[0] != 1) {
      throw py::value_error("_write_files: data must be a contiguous byte buffer (memoryview.cast('B'))");
    }
    e.data = static_cast<const char*>(v.ptr);
    e.size = static_cast<size_t>(v.itemsize * v.size);
    e.overwrite = t[4].cast<bool>();
  }
  {
    py::gil_scoped_release release;
    write_group(all, o);
  }
  py::list out;
  for (const Entry& e : all) out.append(py::make_tuple(e.err, static_cast<int>(e.where)));
  return out;
}

}  // namespace

void register_fileio(py::module_& m) {
  m.def("_write_files", &write_files, py::arg("entries"), py::arg("mode"), py::arg("syncfs") = 1,
        py::arg("links") = true, py::arg("renameat2") = true, py::arg("fail_fsync") = -1,
        "write_atomic_many's group write with the GIL released. entries: (tmp, path, folder, data, "
        "overwrite), names as bytes; returns (errno, where) per entry, where 0: no name, 1: tmp, 2: path, "
        "3: folder. syncfs: 0 never, 1 where several files share a file system, 2 as if it failed. "
        "links, renameat2, fail_fsync: testing hooks for the fallbacks.");
}

}  // namespace kedi

#else  // not POSIX: kedi_edge._fsutil writes in Python

namespace kedi {
void register_fileio(pybind11::module_&) {}
}  // namespace kedi

#endif
