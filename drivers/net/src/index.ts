/**
 * @xenotype/net — virtual network interfaces: the netif protocol (io/netif.h), Ethernet/ARP/IPv4/
 * ICMP/UDP/TCP headers, the virtual firewall-router's rules and the software bridge (all sans-IO),
 * netback (a driver domain's backend, with the paper's round-robin transmit scheduler) and netfront
 * (a guest's frontend). Front and back never import each other.
 */
export * from './netif';
export * from './packet';
export * from './firewall';
export * from './bridge';
export { Netback, Vif, netbackFactory, DEFAULT_NETBACK_COSTS, NETBACK_FEATURES, type NetbackCosts, type NetbackOptions, type VifStats } from './backend';
export { Netfront, type NetfrontOptions, type NetfrontStats } from './frontend';
