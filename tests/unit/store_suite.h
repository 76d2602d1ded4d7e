#pragma once

// The store test suite: every test is a TEST_P of StoreSuite, run once per Store
// implementation. An implementation joins with one INSTANTIATE_TEST_SUITE_P line giving its
// StoreFactory (SQLite's: tests/unit/store_sqlite_test.cc); the tests do not change.

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "server/store.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server::test_support {

struct StoreFactory {
  std::string name;  // the instantiation's name in test names: letters and digits
  // Opens the store kept for `dir`, an empty folder the first time. Opening it again with the
  // same `dir` gives a second handle on the same data, as a second process would have.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const std::filesystem::path& dir)> open;
};

inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

inline std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

class StoreSuite : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> opened = OpenAnother();
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  // Another handle on the store of this test.
  absl::StatusOr<std::unique_ptr<Store>> OpenAnother() { return GetParam().open(tmp_.path()); }

  Store& store() { return *store_; }

  // A queued run of `target` created at `created_ms`, with its Queued event.
  static runyard::v1::Run QueuedRun(const std::string& run_id, const std::string& target = "cpu",
                                    int64_t created_ms = 1000,
                                    const std::string& experiment = "exp") {
    runyard::v1::Run run;
    run.set_run_id(run_id);
    run.set_experiment(experiment);
    run.set_target(target);
    run.mutable_spec()->set_experiment(experiment);
    run.mutable_spec()->set_compute_target(target);
    run.mutable_spec()->set_script("train.py");
    run.set_status(runyard::v1::QUEUED);
    run.set_created_unix_ms(created_ms);
    auto* queued = run.add_history();
    queued->set_status(runyard::v1::QUEUED);
    queued->set_time_unix_ms(created_ms);
    return run;
  }

  testutil::ScopedTempDir tmp_;
  std::unique_ptr<Store> store_;
};

}  // namespace runyard::server::test_support
