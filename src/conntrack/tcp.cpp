// The TCP tracker: nf_conntrack_proto_tcp.c's state table, window
// tracking (tcp_in_window), flag checks (tcp_error), pick-up of
// mid-stream connections (tcp_new) and timeouts.
#include <algorithm>
#include <array>
#include <string>

#include "conntrack/conntrack.h"
#include "packet/mangle.h"

namespace nfemu::conntrack {

using namespace packet;

namespace {

// enum tcp_bit_set: the row of the state table a segment selects.
enum Index : uint8_t { kSynSet, kSynAckSet, kFinSet, kAckSet, kRstSet, kNoneSet };

constexpr uint8_t sNO = 0, sSS = 1, sSR = 2, sES = 3, sFW = 4, sCW = 5, sLA = 6, sTW = 7, sCL = 8, sS2 = 9,
                  sIV = 10 /* TCP_CONNTRACK_MAX */, sIG = 11 /* TCP_CONNTRACK_IGNORE */;

// The message nf_conntrack_tcp_packet logs (nf_conntrack_log_invalid) for
// a segment the state table refuses: "packet (index 3) in dir 0 invalid,
// state SYN_SENT". Ctx::reason is a view: each text is made once.
std::string_view invalid_state_reason(Index index, Dir dir, TcpState old) {
  constexpr size_t kIndexes = 6, kTcpStates = 10;
  static const auto texts = [] {
    std::array<std::string, kIndexes * 2 * kTcpStates> t;
    for (size_t i = 0; i < kIndexes; ++i)
      for (size_t d = 0; d < 2; ++d)
        for (size_t s = 0; s < kTcpStates; ++s) {
          std::string& text = t[(i * 2 + d) * kTcpStates + s];
          text = "packet (index ";
          text += static_cast<char>('0' + i);
          text += ") in dir ";
          text += static_cast<char>('0' + d);
          text += " invalid, state ";
          text += to_string(static_cast<TcpState>(s));
        }
    return t;
  }();
  return texts[(static_cast<size_t>(index) * 2 + dir) * kTcpStates + static_cast<size_t>(old)];
}

// tcp_conntracks[dir][index][old state] of Linux 6.x.
constexpr uint8_t kStates[2][6][10] = {
    {
        // ORIGINAL     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        /* syn    */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
        /* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /* ack    */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
    {
        // REPLY        sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
        /* syn    */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
        /* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
        /* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /* ack    */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
        /* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
};

inline bool before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool after(uint32_t a, uint32_t b) { return before(b, a); }

constexpr Index conntrack_index(uint8_t f) {
  if (f & tcp_flag::kRst) return kRstSet;
  if (f & tcp_flag::kSyn) return (f & tcp_flag::kAck) ? kSynAckSet : kSynSet;
  if (f & tcp_flag::kFin) return kFinSet;
  if (f & tcp_flag::kAck) return kAckSet;
  return kNoneSet;
}

// tcp_valid_flags: FIN/SYN/RST/ACK/URG combinations; PSH, ECE, CWR free.
constexpr bool valid_flags(uint8_t f) {
  using namespace tcp_flag;
  switch (f & (kFin | kSyn | kRst | kAck | kUrg)) {
    case kSyn:
    case kSyn | kUrg:
    case kSyn | kAck:
    case kRst:
    case kRst | kAck:
    case kFin | kAck:
    case kFin | kAck | kUrg:
    case kAck:
    case kAck | kUrg:
      return true;
    default:
      return false;
  }
}

// Both answers above for the six low flag bits, the only ones either
// reads (ECE and CWR are free): one load a segment instead of two chains
// of tests. kInvalidFlags marks what tcp_valid_flags refuses.
constexpr uint8_t kInvalidFlags = 0x80;
constexpr std::array<uint8_t, 64> kFlagInfo = [] {
  std::array<uint8_t, 64> t{};
  for (unsigned f = 0; f < 64; ++f)
    t[f] = static_cast<uint8_t>(conntrack_index(static_cast<uint8_t>(f)) |
                                (valid_flags(static_cast<uint8_t>(f)) ? 0 : kInvalidFlags));
  return t;
}();
constexpr bool flag_info_exact() {
  for (unsigned f = 0; f < 256; ++f) {
    uint8_t info = kFlagInfo[f & 0x3f];
    if (((info & kInvalidFlags) == 0) != valid_flags(static_cast<uint8_t>(f))) return false;
    if ((info & ~kInvalidFlags) != conntrack_index(static_cast<uint8_t>(f))) return false;
  }
  return true;
}
static_assert(flag_info_exact(), "kFlagInfo answers as conntrack_index and valid_flags for every flag byte");

// What the tracker reads of one segment.
struct Seg {
  uint32_t seq, ack_seq;
  uint16_t win;
  uint8_t flags;
  Index index;
  uint32_t end;  // segment_seq_plus_len
  std::span<const uint8_t> options;
  bool syn() const { return flags & tcp_flag::kSyn; }
  bool ack() const { return flags & tcp_flag::kAck; }
  bool rst() const { return flags & tcp_flag::kRst; }
};

constexpr uint32_t kMaxAckWinConst = 66000;
uint32_t max_ack_window(const TcpSeen& s) { return s.td_maxwin > kMaxAckWinConst ? s.td_maxwin : kMaxAckWinConst; }

// tcp_options: window scale and SACK-permitted of a SYN.
void parse_options(std::span<const uint8_t> opt, TcpSeen* st) {
  if (opt.empty()) return;
  st->td_scale = 0;
  st->flags &= tcp_ct_flag::kBeLiberal;
  size_t i = 0;
  while (i < opt.size()) {
    uint8_t code = opt[i];
    if (code == 0) return;  // EOL
    if (code == 1) {        // NOP
      ++i;
      continue;
    }
    if (opt.size() - i < 2) return;
    uint8_t size = opt[i + 1];
    if (size < 2 || size > opt.size() - i) return;
    if (code == 4 && size == 2) {
      st->flags |= tcp_ct_flag::kSackPerm;
    } else if (code == 3 && size == 3) {
      st->td_scale = opt[i + 2] > 14 ? 14 : opt[i + 2];  // TCP_MAX_WSCALE
      st->flags |= tcp_ct_flag::kWindowScale;
    }
    i += size;
  }
}

// tcp_sack: the highest right edge of the SACK blocks.
void parse_sack(std::span<const uint8_t> opt, uint32_t* sack) {
  if (opt.empty()) return;
  // Fast path for the aligned timestamp-only option.
  if (opt.size() == 12 && opt[0] == 1 && opt[1] == 1 && opt[2] == 8 && opt[3] == 10) return;
  size_t i = 0;
  while (i < opt.size()) {
    uint8_t code = opt[i];
    if (code == 0) return;
    if (code == 1) {
      ++i;
      continue;
    }
    if (opt.size() - i < 2) return;
    uint8_t size = opt[i + 1];
    if (size < 2 || size > opt.size() - i) return;
    if (code == 5 && size >= 10 && (size - 2) % 8 == 0) {
      for (size_t b = 0; b < size_t{size} - 2; b += 8) {
        uint32_t right = load32(opt.data() + i + 2 + b + 4);
        if (after(right, *sack)) *sack = right;
      }
      return;
    }
    i += size;
  }
}

void init_sender(TcpSeen* sender, TcpSeen* receiver, const Seg& s, Dir dir) {
  sender->td_end = sender->td_maxend = s.end;
  sender->td_maxwin = s.win == 0 ? 1 : s.win;
  parse_options(s.options, sender);
  // RFC 1323: scaling only when both sides offered it.
  if (dir == kReply &&
      !((sender->flags & tcp_ct_flag::kWindowScale) && (receiver->flags & tcp_ct_flag::kWindowScale))) {
    sender->td_scale = 0;
    receiver->td_scale = 0;
  }
}

enum class WinAction : uint8_t { Ignore, Invalid, Accept };

struct WindowCtx {
  bool sysctl_liberal;
  std::string_view* reason;
  // nf_ct_seq_offset of the receiver at ack - 1: what a NAT helper's
  // rewrite shifted the acknowledged stream by (0 without seqadj).
  int32_t receiver_offset = 0;
};

WinAction log_invalid(const TcpSeen& sender, const WindowCtx& w, WinAction ret, std::string_view why) {
  if ((sender.flags & tcp_ct_flag::kBeLiberal) || w.sysctl_liberal) return WinAction::Accept;
  *w.reason = why;
  return ret;
}

WinAction in_window(TcpInfo& st, Dir dir, const Seg& s, const WindowCtx& w) {
  TcpSeen& sender = st.seen[dir];
  TcpSeen& receiver = st.seen[!dir];
  uint32_t seq = s.seq;
  uint32_t ack = s.ack_seq, sack = s.ack_seq;
  uint32_t win = s.win;
  uint32_t end = s.end;
  if (receiver.flags & tcp_ct_flag::kSackPerm) parse_sack(s.options, &sack);
  // The receiver saw the sender's stream as a NAT helper shifted it: its
  // acks are taken back to the stream this side tracks.
  ack -= static_cast<uint32_t>(w.receiver_offset);
  sack -= static_cast<uint32_t>(w.receiver_offset);

  if (sender.td_maxwin == 0) {
    if (s.syn()) {
      init_sender(&sender, &receiver, s, dir);
      if (!s.ack()) return WinAction::Accept;  // simultaneous open
    } else {
      // Mid-connection pick-up: use what the segment tells.
      sender.td_end = end;
      uint32_t swin = win << sender.td_scale;
      sender.td_maxwin = swin == 0 ? 1 : swin;
      sender.td_maxend = end + sender.td_maxwin;
      if (receiver.td_maxwin == 0)
        receiver.td_end = receiver.td_maxend = sack;
      else if (sack == receiver.td_end + 1)
        receiver.td_end++;  // likely a keepalive reply
    }
  } else if (s.syn() && after(end, sender.td_end) &&
             (st.state == TcpState::SynSent || st.state == TcpState::SynRecv)) {
    // A reinitialised SYN(-ACK): start this direction over.
    init_sender(&sender, &receiver, s, dir);
    if (dir == kReply && !s.ack()) return WinAction::Accept;
  }

  if (!s.ack()) {
    ack = sack = receiver.td_end;
  } else if ((s.flags & (tcp_flag::kAck | tcp_flag::kRst)) == (tcp_flag::kAck | tcp_flag::kRst) && ack == 0) {
    ack = sack = receiver.td_end;  // broken stacks: RST+ACK with ack 0
  }

  if (s.rst() && seq == 0 && st.state == TcpState::SynSent) seq = end = sender.td_end;  // RST answering a SYN

  bool seq_ok = before(seq, sender.td_maxend + 1);
  if (!seq_ok) {
    uint32_t overshot = end - sender.td_maxend + 1;
    bool ack_ok = after(sack, receiver.td_end - max_ack_window(sender) - 1);
    bool in_recv_win = receiver.td_maxwin && after(end, sender.td_end - receiver.td_maxwin - 1);
    if (in_recv_win && ack_ok && overshot <= receiver.td_maxwin && before(sack, receiver.td_end + 1)) {
      // Senders that exceed the window: let a later ACK of this data pass.
      sender.td_end = end;
      sender.flags |= tcp_ct_flag::kDataUnacknowledged;
      return log_invalid(sender, w, WinAction::Ignore, "bytes more than expected");
    }
    return log_invalid(sender, w, WinAction::Invalid, "SEQ is over upper bound (over the window of the receiver)");
  }
  if (!before(sack, receiver.td_end + 1))
    return log_invalid(sender, w, WinAction::Invalid, "ACK is over upper bound (ACKed data not seen yet)");
  bool in_recv_win = !receiver.td_maxwin || after(end, sender.td_end - receiver.td_maxwin - 1);
  if (!in_recv_win)
    return log_invalid(sender, w, WinAction::Ignore, "SEQ is under lower bound (already ACKed data retransmitted)");
  if (!after(sack, receiver.td_end - max_ack_window(sender) - 1))
    return log_invalid(sender, w, WinAction::Ignore, "ignored ACK under lower bound (possible overly delayed)");

  if (!s.syn()) win <<= sender.td_scale;
  uint32_t swin = win + (sack - ack);
  if (sender.td_maxwin < swin) sender.td_maxwin = swin;
  if (after(end, sender.td_end)) {
    sender.td_end = end;
    sender.flags |= tcp_ct_flag::kDataUnacknowledged;
  }
  if (s.ack()) {
    if (!(sender.flags & tcp_ct_flag::kMaxackSet)) {
      sender.td_maxack = ack;
      sender.flags |= tcp_ct_flag::kMaxackSet;
    } else if (after(ack, sender.td_maxack)) {
      sender.td_maxack = ack;
    }
  }
  if (receiver.td_maxwin != 0 && after(end, sender.td_maxend)) receiver.td_maxwin += end - sender.td_maxend;
  if (after(sack + win, receiver.td_maxend - 1)) {
    receiver.td_maxend = sack + win;
    if (win == 0) receiver.td_maxend++;
  }
  if (ack == receiver.td_end) receiver.flags &= ~tcp_ct_flag::kDataUnacknowledged;

  if (s.index == kAckSet) {
    if (st.last_dir == dir && st.last_seq == seq && st.last_ack == ack && st.last_end == end &&
        st.last_win == s.win) {
      st.retrans++;
    } else {
      st.last_dir = dir;
      st.last_seq = seq;
      st.last_ack = ack;
      st.last_end = end;
      st.last_win = s.win;
      st.retrans = 0;
    }
  }
  return WinAction::Accept;
}

bool can_early_drop(TcpState s) {
  return s == TcpState::FinWait || s == TcpState::LastAck || s == TcpState::TimeWait || s == TcpState::Close ||
         s == TcpState::CloseWait;
}

}  // namespace

Table::Action Table::tcp_packet(Entry* ct, Packet& pkt, size_t dataoff, Dir dir, Ctx& c) {
  (void)dataoff;
  ConstIpv4View ip = pkt.ip();
  std::span<const uint8_t> l4 = ip.payload();
  if (l4.size() < kTcpMinHeader) {
    c.reason = "truncated packet";
    return Action::Invalid;
  }
  ConstTcpView th(l4);
  // tcp_error
  if (th.header_len() < kTcpMinHeader || l4.size() < th.header_len()) {
    c.reason = "truncated packet";
    return Action::Invalid;
  }
  if (bad_checksum(pkt, c)) {
    c.reason = "bad checksum";
    return Action::Invalid;
  }
  const uint8_t flag_info = kFlagInfo[th.flags() & 0x3f];
  if (flag_info & kInvalidFlags) {
    c.reason = "invalid tcp flag combination";
    return Action::Invalid;
  }
  Seg s;
  s.seq = th.seq();
  s.ack_seq = th.ack_seq();
  s.win = th.window();
  s.flags = th.flags();
  s.index = static_cast<Index>(flag_info);
  s.end = s.seq + static_cast<uint32_t>(l4.size() - th.header_len()) + (s.syn() ? 1 : 0) +
          ((s.flags & tcp_flag::kFin) ? 1 : 0);
  s.options = th.options();

  TcpInfo& st = ct->tcp;
  if (!ct->confirmed()) {
    // tcp_new
    uint8_t ns = kStates[0][s.index][sNO];
    if (ns >= sIV) {
      c.reason = "invalid new";
      return Action::Invalid;
    }
    if (ns == sSS) {
      st = TcpInfo{};
      st.seen[0].td_end = s.end;
      st.seen[0].td_maxwin = s.win == 0 ? 1 : s.win;
      st.seen[0].td_maxend = st.seen[0].td_end;
      parse_options(s.options, &st.seen[0]);
    } else if (!cfg_.tcp_loose) {
      c.reason = "tcp_loose=0: no pick-up";
      return Action::Invalid;
    } else {
      st = TcpInfo{};
      st.seen[0].td_end = s.end;
      st.seen[0].td_maxwin = s.win == 0 ? 1 : s.win;
      st.seen[0].td_maxend = st.seen[0].td_end + st.seen[0].td_maxwin;
      // Picked up: assume SACK and be liberal, window scaling is unknown.
      st.seen[0].flags = st.seen[1].flags = tcp_ct_flag::kSackPerm | tcp_ct_flag::kBeLiberal;
    }
    st.last_index = kNoneSet;
  }

  TcpState old_state = st.state;
  uint8_t old = static_cast<uint8_t>(old_state);
  uint8_t ns = kStates[dir][s.index][old];
  bool skip_window = false;

  switch (ns) {
    case sSS:
      if (old < sTW) break;
      // A SYN reopening a closed or aborted connection: kill, look up again.
      if (((st.seen[dir].flags | st.seen[!dir].flags) & tcp_ct_flag::kCloseInit) ||
          (st.last_dir == dir && st.last_index == kRstSet)) {
        if (kill(ct, c.now * kNsPerJiffy)) return Action::Repeat;
        return Action::Drop;
      }
      [[fallthrough]];
    case sIG:
      if (s.index == kSynAckSet && st.last_index == kSynSet && st.last_dir != dir && s.ack_seq == st.last_end) {
        // This SYN/ACK answers a SYN we ignored: both ends are in sync,
        // we take the state from what we annotated.
        old_state = TcpState::SynSent;
        ns = sSR;
        TcpSeen& ls = st.seen[st.last_dir];
        ls.td_end = st.last_end;
        ls.td_maxend = st.last_end;
        ls.td_maxwin = st.last_win == 0 ? 1 : st.last_win;
        ls.td_scale = st.last_wscale;
        st.last_flags &= ~tcp_ct_flag::kExpChallengeAck;
        ls.flags = st.last_flags;
        TcpSeen& cur = st.seen[dir];
        cur.td_end = cur.td_maxend = cur.td_maxwin = cur.td_maxack = 0;
        cur.td_scale = 0;
        cur.flags &= tcp_ct_flag::kBeLiberal;
        break;
      }
      st.last_index = s.index;
      st.last_dir = dir;
      st.last_seq = s.seq;
      st.last_end = s.end;
      st.last_win = s.win;
      if (s.index == kSynSet && dir == kOriginal) {
        TcpSeen seen;
        st.last_flags = st.last_wscale = 0;
        parse_options(s.options, &seen);
        if (seen.flags & tcp_ct_flag::kWindowScale) {
          st.last_flags |= tcp_ct_flag::kWindowScale;
          st.last_wscale = seen.td_scale;
        }
        if (seen.flags & tcp_ct_flag::kSackPerm) st.last_flags |= tcp_ct_flag::kSackPerm;
        if (old_state == TcpState::LastAck) st.last_flags |= tcp_ct_flag::kExpChallengeAck;
      }
      if (old_state == TcpState::SynSent && s.index == kAckSet && dir == kReply) st.last_ack = s.ack_seq;
      // Ignored: accepted with its conntrack, nothing changes.
      return Action::Accept;
    case sIV:
      c.reason = invalid_state_reason(static_cast<Index>(s.index), dir, old_state);
      return Action::Invalid;
    case sTW:
      if (old_state == TcpState::LastAck && s.index == kAckSet && st.last_dir != dir && st.last_index == kSynSet &&
          (st.last_flags & tcp_ct_flag::kExpChallengeAck)) {
        // An RFC 5961 challenge ACK does not acknowledge the last FIN.
        st.last_flags &= ~tcp_ct_flag::kExpChallengeAck;
        return Action::Accept;
      }
      break;
    case sS2:
      st.last_flags |= tcp_ct_flag::kSimultaneousOpen;
      break;
    case sSR:
      if (dir == kReply && s.index == kAckSet && (st.last_flags & tcp_ct_flag::kSimultaneousOpen)) ns = sES;
      break;
    case sCL: {
      if (s.index != kRstSet) break;
      if (can_early_drop(old_state)) {
        skip_window = true;
        break;
      }
      if ((st.seen[!dir].flags & tcp_ct_flag::kMaxackSet) && st.last_index != kSynSet) {
        uint32_t seq = s.seq;
        // nf_conntrack_tcp_established
        bool established = old_state == TcpState::Established && (ct->status & status::kAssured);
        if (seq == 0 && !established) break;
        if (before(seq, st.seen[!dir].td_maxack) && !cfg_.tcp_ignore_invalid_rst) {
          c.reason = "invalid rst";
          return Action::Invalid;
        }
        if (!established || seq == st.seen[!dir].td_maxack) break;
        if (st.last_index == kAckSet && st.last_dir == dir && seq == st.last_end) break;
        // RST not exactly in sequence: keep the state for a challenge ACK.
        ns = old;
      }
      // A RST answering the SYN we let through comes from its other side:
      // after a simultaneous open's second SYN, a RST from that SYN's own
      // sender is window-checked on this kernel (6.18, kernel-check.sh: its
      // payload then counts), one from the other side is not.
      if ((((ct->status & status::kSeenReply) && st.last_index == kSynSet && st.last_dir != dir) ||
           (!(ct->status & status::kAssured) && st.last_index == kAckSet)) &&
          s.ack_seq == st.last_end) {
        skip_window = true;  // RST for a SYN or ACK we let through
        break;
      }
      if (old_state == TcpState::SynSent && st.last_index == kAckSet && st.last_dir == kReply &&
          s.seq == st.last_ack) {
        skip_window = true;  // RST answering a challenge ACK
        break;
      }
      break;
    }
    default:
      break;
  }

  if (!skip_window) {
    std::string_view why;
    int32_t receiver_offset = 0;
    if (ct->status & status::kSeqAdjust) [[unlikely]]
      receiver_offset = seq_offset(*ct, static_cast<Dir>(!dir), s.ack_seq - 1);
    WinAction res = in_window(st, dir, s, {cfg_.tcp_be_liberal, &why, receiver_offset});
    if (res == WinAction::Ignore) return Action::Accept;
    if (res == WinAction::Invalid) {
      c.reason = why;
      // nf_tcp_handle_invalid: an out-of-window FIN/RST answering one
      // shortens the timeout of an assured connection.
      if ((ct->status & status::kAssured) && !(ct->status & status::kFixedTimeout) &&
          (s.index == kRstSet || s.index == kFinSet)) {
        if (st.last_dir != dir && (st.last_index == kFinSet || st.last_index == kRstSet)) {
          uint64_t left = static_cast<int32_t>(static_cast<uint32_t>(ct->timeout - c.now)) > 0
                              ? static_cast<uint32_t>(ct->timeout - c.now)
                              : 0;
          uint64_t unack = uint64_t{cfg_.tcp_timeout_unacknowledged} * kHz;
          if (left >= 120 * kHz && left > unack) {
            ct->timeout = unack + c.now;
            timer_shortened(ct);
          }
        } else {
          st.last_index = s.index;
          st.last_dir = dir;
        }
      }
      return Action::Invalid;
    }
  }

  // in_window:
  st.last_index = s.index;
  st.last_dir = dir;
  st.state = static_cast<TcpState>(ns);
  if (old_state != st.state && st.state == TcpState::FinWait) st.seen[dir].flags |= tcp_ct_flag::kCloseInit;

  auto timeout_of = [&](TcpState t) -> uint64_t {
    uint32_t s = 0;
    switch (t) {
      case TcpState::None:
      case TcpState::SynSent:
      case TcpState::SynSent2: s = cfg_.tcp_timeout_syn_sent; break;
      case TcpState::SynRecv: s = cfg_.tcp_timeout_syn_recv; break;
      case TcpState::Established: s = cfg_.tcp_timeout_established; break;
      case TcpState::FinWait: s = cfg_.tcp_timeout_fin_wait; break;
      case TcpState::CloseWait: s = cfg_.tcp_timeout_close_wait; break;
      case TcpState::LastAck: s = cfg_.tcp_timeout_last_ack; break;
      case TcpState::TimeWait: s = cfg_.tcp_timeout_time_wait; break;
      case TcpState::Close: s = cfg_.tcp_timeout_close; break;
    }
    return uint64_t{s} * kHz;
  };
  const uint64_t retrans_t = uint64_t{cfg_.tcp_timeout_max_retrans} * kHz;
  const uint64_t unack_t = uint64_t{cfg_.tcp_timeout_unacknowledged} * kHz;
  uint64_t state_t = timeout_of(st.state);
  uint64_t timeout;
  if (st.retrans >= cfg_.tcp_max_retrans && state_t > retrans_t)
    timeout = retrans_t;
  else if (s.index == kRstSet)
    timeout = timeout_of(TcpState::Close);
  else if (((st.seen[0].flags | st.seen[1].flags) & tcp_ct_flag::kDataUnacknowledged) && state_t > unack_t)
    timeout = unack_t;
  else if (st.last_win == 0 && state_t > retrans_t)
    timeout = retrans_t;
  else
    timeout = state_t;

  if (st.state != old_state) event_cache(ct, ipct::kProtoinfo);

  if (!(ct->status & status::kSeenReply)) {
    // Only a RST for an answer: no connection ever existed, forget it.
    if (s.rst()) {
      // nf_ct_kill_acct: the RST is counted before the DESTROY.
      acct_update(ct, c.dir, c.bytes);
      kill(ct, c.now * kNsPerJiffy);
      return Action::Accept;
    }
    // A retransmitted SYN does not extend the timeout.
    if (s.index == kSynSet && old_state == TcpState::SynSent) return Action::Accept;
    // Picked up without reply: not the long ESTABLISHED timeout.
    if (st.state == TcpState::Established && timeout > unack_t) timeout = unack_t;
  } else if (!(ct->status & status::kAssured) &&
             (old_state == TcpState::SynRecv || old_state == TcpState::Established) &&
             st.state == TcpState::Established) {
    ct->status |= status::kAssured;
    event_cache(ct, ipct::kAssured);
  }
  refresh(ct, timeout, c);
  return Action::Accept;
}

}  // namespace nfemu::conntrack
