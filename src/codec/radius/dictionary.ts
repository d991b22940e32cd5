/**
 * RADIUS dictionary: the packet codes, attribute types and values portcullis reads or writes.
 *
 * Only numbers live here; no names are looked up at run time.
 */

/** RADIUS packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3). */
export const PacketCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;

/** One of {@link PacketCode}'s values. */
export type PacketCode = (typeof PacketCode)[keyof typeof PacketCode];

/** Attribute types (RFC 2865 §5, RFC 2866 §5 (accounting), RFC 2868 §3, RFC 2869 §5, RFC 3162 §2, RFC 3579 §3, RFC 4072 §6). */
export const Attr = {
  UserName: 1,
  UserPassword: 2,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FilterId: 11,
  FramedMtu: 12,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  TerminationAction: 29,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  NasPortType: 61,
  TunnelType: 64,
  TunnelMediumType: 65,
  ConnectInfo: 77,
  EapMessage: 79,
  MessageAuthenticator: 80,
  TunnelPrivateGroupId: 81,
  NasPortId: 87,
  NasIpv6Address: 95,
  EapKeyName: 102,
} as const;

/** Acct-Status-Type values (RFC 2866 §5.1); 9-15 (tunnels, failed) are stored but change no session. */
export const AcctStatusTypeValue = { Start: 1, Stop: 2, InterimUpdate: 3, AccountingOn: 7, AccountingOff: 8 } as const;

/** SMI Private Enterprise Codes used as Vendor-Id in Vendor-Specific attributes (RFC 2865 §5.26). */
export const Vendor = { Microsoft: 311 } as const;

/** Microsoft vendor types (RFC 2548 §2.4.2, §2.4.3). */
export const MicrosoftAttr = { MppeSendKey: 16, MppeRecvKey: 17 } as const;

/** Tunnel-Type values (RFC 2868 §3.1; VLAN from RFC 3580 §3.31). */
export const TunnelTypeValue = { Vlan: 13 } as const;

/** Tunnel-Medium-Type values (RFC 2868 §3.2; IEEE-802 from RFC 3580 §3.31). */
export const TunnelMediumTypeValue = { Ieee802: 6 } as const;
