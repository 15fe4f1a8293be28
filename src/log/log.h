// LOG and TRACE lines, byte for byte as the kernel's nf_log_syslog prints
// them and `dmesg -t` shows them: the prefix, then `IN=... OUT=... `, the
// link header on input paths, the IPv4 dump, one trailing space.
//
//   LogOptions o{.tcp_sequence = true};
//   MacInfo mac = MacInfo::from(pkt);            // Ethernet header of the frame
//   std::string line = format_log_line("fw: ", o, pkt, Hook::LocalIn, "eth0", "", &mac);
//   std::string t = format_trace_line("raw", "PREROUTING", TraceType::Policy, 2,
//                                     pkt, Hook::PreRouting, "eth0", "", &mac);
//
// What the caller decides, as the kernel's callers do:
// - `in` empty means the hook has no input device: OUTPUT, and POSTROUTING
//   of a locally generated packet. Then there is no MAC field at all.
//   Forwarded packets keep their input device through POSTROUTING (ip_output
//   passes skb->dev as indev), so FORWARD and POSTROUTING lines show IN=,
//   OUT= and the MAC of the received frame. With an input device, `mac`
//   describes that link header: nullptr for a device without one (prints
//   `MAC= `); MacInfo::loopback() for lo, whose 14 zero bytes are printed
//   raw even with --log-macdecode.
// - The packet's mark comes from pkt.meta.mark (`MARK=0x.. ` when non-zero).
// - `owner` is the uid/gid of the full socket attached to the packet
//   (skb->sk): locally sent packets of a user socket, and, on input, packets
//   that TCP/UDP early demux matched to an established socket, and the RST
//   a listening socket answers with (the stack passes the listener's
//   owner). Other packets the kernel makes itself (ICMP errors, a RST for
//   no socket, SYN-ACK of a request socket) have none. It is printed only
//   with LogOptions::uid.
// - The byte span of pkt.data() is skb->len: trimmed to Total Length, as
//   ip_rcv leaves it; a shorter span yields the kernel's INCOMPLETE/TRUNCATED.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "packet/ethernet.h"
#include "packet/packet.h"

namespace nfemu::log {

// The --log-* flags of the LOG target (XT_LOG_* / NF_LOG_* bits).
struct LogOptions {
  bool tcp_sequence = false;  // --log-tcp-sequence: SEQ= ACK=
  bool tcp_options = false;   // --log-tcp-options: OPT (hex)
  bool ip_options = false;    // --log-ip-options: OPT (hex)
  bool uid = false;           // --log-uid: UID= GID=
  bool macdecode = false;     // --log-macdecode: MACSRC= MACDST= MACPROTO=

  // What TRACE uses: NF_LOG_DEFAULT_MASK, every flag but macdecode.
  static constexpr LogOptions trace() { return {true, true, true, true, false}; }
};

// The link-layer header the input device put in front of the packet.
struct MacInfo {
  enum class Device : uint8_t {
    Ethernet,  // ARPHRD_ETHER (veth, eth): macdecode applies
    Loopback,  // ARPHRD_LOOPBACK: 14 zero-address bytes, never decoded
  };
  packet::EthernetHeader header;
  Device device = Device::Ethernet;

  // The Ethernet header of pkt (precondition: pkt.has_mac_header()).
  static MacInfo from(const packet::Packet& pkt, Device d = Device::Ethernet) {
    return {pkt.mac_header(), d};
  }
  // What loopback_xmit + eth_type_trans leave on a packet that crossed lo.
  static constexpr MacInfo loopback() { return {{}, Device::Loopback}; }
};

struct SocketOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// ip_tables' comments[]: what made the traced packet leave the rule walk.
enum class TraceType : uint8_t { Rule, Return, Policy };
std::string_view to_string(TraceType t);  // "rule", "return", "policy"

// A LOG target line. `hook` does not change the text (the kernel's logger
// ignores it); it is here so that callers pass what the kernel passes.
std::string format_log_line(std::string_view prefix, const LogOptions& opts, const packet::Packet& pkt,
                            packet::Hook hook, std::string_view in, std::string_view out,
                            const MacInfo* mac, const SocketOwner* owner = nullptr);

// A TRACE line: `TRACE: TABLE:CHAIN:TYPE:RULENUM ` then the same dump with
// LogOptions::trace(). rulenum counts the chain's entries from 1, the
// policy or implicit return entry included (ip_tables' get_chainname_rulenum).
std::string format_trace_line(std::string_view table, std::string_view chain, TraceType type,
                              unsigned rulenum, const packet::Packet& pkt, packet::Hook hook,
                              std::string_view in, std::string_view out, const MacInfo* mac,
                              const SocketOwner* owner = nullptr);

// The same two into `line`, replacing what it held: a caller that keeps
// one string for all its lines allocates only while the longest grows.
void format_log_line(std::string& line, std::string_view prefix, const LogOptions& opts, const packet::Packet& pkt,
                     packet::Hook hook, std::string_view in, std::string_view out, const MacInfo* mac,
                     const SocketOwner* owner = nullptr);
void format_trace_line(std::string& line, std::string_view table, std::string_view chain, TraceType type,
                       unsigned rulenum, const packet::Packet& pkt, packet::Hook hook, std::string_view in,
                       std::string_view out, const MacInfo* mac, const SocketOwner* owner = nullptr);

// The IPv4 dump alone (from `SRC=`), appended to out: for callers that
// build their own prefix. bytes is the datagram as skb->len bytes.
void append_ipv4_dump(std::string& out, const LogOptions& opts, std::span<const uint8_t> bytes, uint32_t mark,
                      const SocketOwner* owner);

}  // namespace nfemu::log
