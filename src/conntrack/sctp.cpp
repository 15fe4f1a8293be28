// The SCTP tracker: nf_conntrack_proto_sctp.c (Linux 6.x), for IPv4.
//
// An association's state follows its chunks through a table indexed by
// direction, chunk class and state; the verification tag each direction
// must carry is learnt from INIT and INIT ACK (or a first HEARTBEAT), and a
// packet with another tag is INVALID unless one of its chunks is allowed
// to differ. Checked on the kernel by tests/scenarios/sctp-conntrack.
#include "packet/sctp.h"

#include <array>

#include "conntrack/conntrack.h"
#include "packet/bytes.h"

namespace nfemu::conntrack {

using namespace packet;

namespace {

using S = SctpState;
constexpr S sNO = S::None, sCL = S::Closed, sCW = S::CookieWait, sCE = S::CookieEchoed, sES = S::Established,
            sSS = S::ShutdownSent, sSR = S::ShutdownRecd, sSA = S::ShutdownAckSent, sHS = S::HeartbeatSent;
// SCTP_CONNTRACK_MAX: the chunk is not allowed in this state and direction.
constexpr auto sIV = static_cast<S>(9);
constexpr size_t kStates = 9;

// sctp_conntracks[dir][chunk class][state]; the classes are sctp_new_state's.
constexpr std::array<std::array<std::array<S, kStates>, 11>, 2> kTransitions = {{
    {{
        //  sNO  sCL  sCW  sCE  sES  sSS  sSR  sSA  sHS
        {sCL, sCL, sCW, sCE, sES, sCL, sCL, sSA, sCW},  // INIT
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL},  // INIT ACK
        {sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},  // ABORT
        {sCL, sCL, sCW, sCE, sSS, sSS, sSR, sSA, sCL},  // SHUTDOWN
        {sSA, sCL, sCW, sCE, sES, sSA, sSA, sSA, sSA},  // SHUTDOWN ACK
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sCL},  // ERROR
        {sCL, sCL, sCE, sCE, sES, sSS, sSR, sSA, sCL},  // COOKIE ECHO
        {sCL, sCL, sCW, sES, sES, sSS, sSR, sSA, sCL},  // COOKIE ACK
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sCL, sCL},  // SHUTDOWN COMPLETE
        {sHS, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT
        {sCL, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT ACK
    }},
    {{
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sIV},  // INIT
        {sIV, sCW, sCW, sCE, sES, sSS, sSR, sSA, sIV},  // INIT ACK
        {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sIV},  // ABORT
        {sIV, sCL, sCW, sCE, sSR, sSS, sSR, sSA, sIV},  // SHUTDOWN
        {sIV, sCL, sCW, sCE, sES, sSA, sSA, sSA, sIV},  // SHUTDOWN ACK
        {sIV, sCL, sCW, sCL, sES, sSS, sSR, sSA, sIV},  // ERROR
        {sIV, sCL, sCE, sCE, sES, sSS, sSR, sSA, sIV},  // COOKIE ECHO
        {sIV, sCL, sCW, sES, sES, sSS, sSR, sSA, sIV},  // COOKIE ACK
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sCL, sIV},  // SHUTDOWN COMPLETE
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sHS},  // HEARTBEAT
        {sIV, sCL, sCW, sCE, sES, sSS, sSR, sSA, sES},  // HEARTBEAT ACK
    }},
}};

// sctp_new_state: chunks outside the table (DATA, SACK, ...) keep the state.
S new_state(Dir dir, S cur, uint8_t type) {
  int i;
  switch (type) {
    case sctp_cid::kInit: i = 0; break;
    case sctp_cid::kInitAck: i = 1; break;
    case sctp_cid::kAbort: i = 2; break;
    case sctp_cid::kShutdown: i = 3; break;
    case sctp_cid::kShutdownAck: i = 4; break;
    case sctp_cid::kError: i = 5; break;
    case sctp_cid::kCookieEcho: i = 6; break;
    case sctp_cid::kCookieAck: i = 7; break;
    case sctp_cid::kShutdownComplete: i = 8; break;
    case sctp_cid::kHeartbeat: i = 9; break;
    case sctp_cid::kHeartbeatAck: i = 10; break;
    default: return cur;
  }
  return kTransitions[dir][i][static_cast<size_t>(cur)];
}

// for_each_sctp_chunk: from the common header on, while a 4-byte chunk
// header fits; each chunk's length rounded up to 4 moves on (a length the
// packet does not hold is not checked).
template <class F>
void for_each_chunk(std::span<const uint8_t> l4, F&& f) {
  size_t count = 0;
  for (size_t off = kSctpHeader; off < l4.size() && l4.size() - off >= kSctpChunkHeader;
       off += (static_cast<size_t>(load16(l4.data() + off + 2)) + 3) & ~size_t{3}) {
    if (!f(off, count++)) return;
  }
}

// The initiate tag of the INIT or INIT ACK chunk at off, if its fixed
// part is there.
bool init_tag_at(std::span<const uint8_t> l4, size_t off, uint32_t* tag) {
  if (l4.size() - off < kSctpChunkHeader + kSctpInitFixed) return false;
  *tag = load32(l4.data() + off + kSctpChunkHeader);
  return true;
}

}  // namespace

std::string_view to_string(SctpState s) {
  static constexpr std::string_view kNames[] = {"NONE",          "CLOSED",        "COOKIE_WAIT",   "COOKIE_ECHOED",
                                                "ESTABLISHED",   "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT",
                                                "HEARTBEAT_SENT"};
  const auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "?";
}

// nf_conntrack_sctp_packet, with sctp_error, do_basic_checks and sctp_new.
Table::Action Table::sctp_packet(Entry* ct, Packet& pkt, Dir dir, Ctx& c) {
  ConstIpv4View ip = std::as_const(pkt).ip();
  std::span<const uint8_t> l4 = ip.payload();
  // sctp_error
  if (l4.size() < kSctpHeader) {
    c.reason = "nf_ct_sctp: short packet";
    return Action::Invalid;
  }
  if (c.hook == Hook::PreRouting && cfg_.checksum && !pkt.meta.transport_checksum_verified() && !sctp_checksum_ok(l4)) {
    c.reason = "nf_ct_sctp: bad CRC";
    return Action::Invalid;
  }
  // do_basic_checks: COOKIE ECHO and COOKIE ACK only first; INIT, INIT ACK
  // and SHUTDOWN COMPLETE alone; no chunk of length 0; at least one chunk.
  std::array<uint64_t, 4> map{};
  auto has = [&](uint8_t t) { return (map[t >> 6] >> (t & 63)) & 1; };
  bool bad = false, alone = false;
  size_t chunks = 0;
  for_each_chunk(l4, [&](size_t off, size_t count) {
    const uint8_t type = l4[off];
    if (type == sctp_cid::kInit || type == sctp_cid::kInitAck || type == sctp_cid::kShutdownComplete) alone = true;
    if (((type == sctp_cid::kCookieAck || type == sctp_cid::kCookieEcho || alone) && count != 0) ||
        load16(l4.data() + off + 2) == 0) {
      bad = true;
      return false;
    }
    map[type >> 6] |= uint64_t{1} << (type & 63);
    ++chunks;
    return true;
  });
  if (bad || chunks == 0) {
    c.reason = "do_basic_checks failed";
    return Action::Invalid;
  }
  const uint32_t vtag = load32(l4.data() + 4);
  SctpInfo& sc = ct->sctp;
  if (!ct->confirmed()) {
    // Out of the blue with any of these: discarded (RFC 9260 8.4).
    if (has(sctp_cid::kAbort) || has(sctp_cid::kShutdownComplete) || has(sctp_cid::kCookieAck)) {
      c.reason = "out of the blue ABORT, SHUTDOWN COMPLETE or COOKIE ACK";
      return Action::Invalid;
    }
    // sctp_new: every chunk must be able to open an association.
    sc = SctpInfo{};
    bool ok = true;
    for_each_chunk(l4, [&](size_t off, size_t) {
      const uint8_t type = l4[off];
      const S s = new_state(kOriginal, sNO, type);
      if (s == sNO || s == sIV) return ok = false;
      if (type == sctp_cid::kInit) {
        uint32_t tag;
        if (vtag != 0 || !init_tag_at(l4, off, &tag)) return ok = false;
        sc.vtag[kReply] = tag;
      } else if (type == sctp_cid::kHeartbeat) {
        sc.vtag[kOriginal] = vtag;
      } else if (type == sctp_cid::kShutdownAck) {
        sc.vtag[kReply] = vtag;
      }
      sc.state = sNO;
      return true;
    });
    if (!ok) {
      c.reason = "no chunk that opens an association";
      return Action::Invalid;
    }
  }
  // The verification tag (RFC 9260 8.5), unless a chunk has its own rule.
  if (!has(sctp_cid::kInit) && !has(sctp_cid::kShutdownComplete) && !has(sctp_cid::kCookieEcho) &&
      !has(sctp_cid::kAbort) && !has(sctp_cid::kShutdownAck) && !has(sctp_cid::kHeartbeat) &&
      !has(sctp_cid::kHeartbeatAck) && vtag != sc.vtag[dir]) {
    c.reason = "verification tag check failed";
    return Action::Invalid;
  }
  S old = sNO, now = sNO;
  bool ignore = false, invalid = false;
  for_each_chunk(l4, [&](size_t off, size_t) {
    const uint8_t type = l4[off];
    const uint8_t flags = l4[off + 1];
    const bool t_bit = flags & kSctpChunkFlagT;
    switch (type) {
      case sctp_cid::kInit:
        if (vtag != 0) return !(invalid = true);
        break;
      case sctp_cid::kAbort:
      case sctp_cid::kShutdownComplete:
        if (vtag != sc.vtag[t_bit ? 1 - dir : dir]) return !(invalid = true);
        break;
      case sctp_cid::kCookieEcho:
        if (vtag != sc.vtag[dir]) return !(invalid = true);
        break;
      case sctp_cid::kCookieAck:
        sc.init[dir] = 0;
        sc.init[!dir] = 0;
        break;
      case sctp_cid::kHeartbeat:
        if (sc.vtag[dir] == 0) {
          sc.vtag[dir] = vtag;
        } else if (vtag != sc.vtag[dir]) {
          if (has(sctp_cid::kData) || ignore) return !(invalid = true);
          sc.flags |= SctpInfo::kHeartbeatVtagFailed;
          sc.last_dir = dir;
          ignore = true;
          return true;
        } else {
          sc.flags &= static_cast<uint8_t>(~SctpInfo::kHeartbeatVtagFailed);
        }
        break;
      case sctp_cid::kHeartbeatAck:
        if (sc.vtag[dir] == 0) {
          sc.vtag[dir] = vtag;
        } else if (vtag != sc.vtag[dir]) {
          if (has(sctp_cid::kData) || ignore) return !(invalid = true);
          if (!(sc.flags & SctpInfo::kHeartbeatVtagFailed) || sc.last_dir == dir) return !(invalid = true);
          sc.flags &= static_cast<uint8_t>(~SctpInfo::kHeartbeatVtagFailed);
          sc.vtag[dir] = vtag;
          sc.vtag[!dir] = 0;
        } else {
          sc.flags &= static_cast<uint8_t>(~SctpInfo::kHeartbeatVtagFailed);
        }
        break;
      default: break;
    }
    old = sc.state;
    now = new_state(dir, old, type);
    if (now == sIV) return !(invalid = true);
    if (type == sctp_cid::kInit) {
      uint32_t tag;
      if (!init_tag_at(l4, off, &tag)) return !(invalid = true);
      // A stale or retransmitted INIT (the peer's tag again) is not noted.
      if (old == sNO || sc.vtag[!dir] != tag) {
        if (sc.init[dir] && sc.init[!dir]) sc.init[!dir] = 0;
        sc.init[dir] = 1;
      }
      sc.vtag[!dir] = tag;
      // An INIT retransmitted in CLOSED does not keep the entry alive.
      if (now == sCL && old == sCL && ct->confirmed()) ignore = true;
    } else if (type == sctp_cid::kInitAck) {
      uint32_t tag;
      if (!init_tag_at(l4, off, &tag)) return !(invalid = true);
      const uint32_t peer = sc.vtag[!dir];
      if (!sc.init[!dir] && peer && peer != tag) return !(invalid = true);
      if (sc.init[dir] && sc.init[!dir] && peer != tag) return !(invalid = true);  // collision
      sc.vtag[!dir] = tag;
    }
    sc.state = now;
    if (old != now) {
      event_cache(ct, ipct::kProtoinfo);
      if (now == sES && !(ct->status & status::kAssured)) {
        ct->status |= status::kAssured;
        event_cache(ct, ipct::kAssured);
      }
    }
    return true;
  });
  if (invalid) {
    c.reason = "chunk not allowed in this state or with this tag";
    return Action::Invalid;
  }
  if (ignore) return Action::Accept;
  // timeouts[NONE] is the CLOSED timeout (nf_conntrack_sctp_init_net).
  const uint32_t secs[] = {cfg_.sctp_timeout_closed,        cfg_.sctp_timeout_closed,
                           cfg_.sctp_timeout_cookie_wait,   cfg_.sctp_timeout_cookie_echoed,
                           cfg_.sctp_timeout_established,   cfg_.sctp_timeout_shutdown_sent,
                           cfg_.sctp_timeout_shutdown_recd, cfg_.sctp_timeout_shutdown_ack_sent,
                           cfg_.sctp_timeout_heartbeat_sent};
  refresh(ct, uint64_t{secs[static_cast<size_t>(now)]} * kHz, c);
  return Action::Accept;
}

}  // namespace nfemu::conntrack
