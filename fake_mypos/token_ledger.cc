#include "fake_mypos/token_ledger.h"

#include <utility>

#include "absl/time/clock.h"
#include "fake_mypos/grant_store.h"

namespace tokenservice {
namespace fake_mypos {

std::string TokenLedger::Issue(const std::string& client_id,
                               std::vector<std::string> scopes) {
  std::string token = NewOpaqueToken();
  if (token.empty()) return token;
  MutexLock lock(&mu_);
  tokens_[token] = Issued{client_id, std::move(scopes), absl::Now()};
  return token;
}

bool TokenLedger::Revoke(const std::string& client_id,
                         const std::string& token) {
  MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return true;
  if (it->second.client_id != client_id) return false;
  if (!it->second.revoked) {
    it->second.revoked = true;
    revoked_.push_back(token);
  }
  return true;
}

bool TokenLedger::IsActive(const std::string& token) const {
  MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.revoked) return false;
  return absl::Now() < it->second.issue_time + lifetime_;
}

std::vector<std::string> TokenLedger::revoked() const {
  MutexLock lock(&mu_);
  return revoked_;
}

}  // namespace fake_mypos
}  // namespace tokenservice
