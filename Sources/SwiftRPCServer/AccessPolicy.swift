#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOHTTP1
import SwiftRPC

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `2001:db8::/32`, or one address (`127.0.0.1`).
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are treated as the IPv4 address.
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    public let address: [UInt8]
    public let prefixLength: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress.parse(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length), !parts[1].hasPrefix("+") else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        self.address = address
        description = text
    }

    public func contains(_ candidate: [UInt8]) -> Bool {
        guard candidate.count == address.count else { return false }
        var remaining = prefixLength
        for (mine, theirs) in zip(address, candidate) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if mine & mask != theirs & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// Parsing of textual IP addresses into 4 or 16 bytes.
public enum IPAddress {
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        // ::ffff:a.b.c.d is an IPv4 client seen through an IPv6 socket.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    /// The usual text of 4 or 16 address bytes (`203.0.113.7`, `2001:db8::1`).
    public static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { address in
            inet_ntop(bytes.count == 4 ? AF_INET : AF_INET6, address.baseAddress, &buffer, socklen_t(buffer.count))
        }
        guard written != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The filters of SPEC §7, run before the route is looked up on every route but `/healthz`,
/// in the order User-Agent → client IP → token; the first that fails answers.
public struct AccessPolicy: Sendable {
    /// Exact, case-sensitive User-Agent values; `nil` allows any.
    public var allowedUserAgents: Set<String>?
    /// Networks clients may come from; `nil` allows any.
    public var allowedNetworks: [CIDR]?
    /// Peers whose `X-Forwarded-For` / `X-Real-IP` name the client.
    public var trustedProxies: [CIDR]
    /// Accepted tokens (`Authorization: Bearer T` or `Token: T`); `nil` requires none.
    public var tokens: [String]?
    /// Verifies `Authorization: Bearer <jwt>`; `nil` accepts no JWT.
    public var jwt: JWTVerifier?

    public init(
        allowedUserAgents: Set<String>? = nil, allowedNetworks: [CIDR]? = nil, trustedProxies: [CIDR] = [], tokens: [String]? = nil,
        jwt: JWTVerifier? = nil
    ) {
        self.allowedUserAgents = allowedUserAgents
        self.allowedNetworks = allowedNetworks
        self.trustedProxies = trustedProxies
        self.tokens = tokens
        self.jwt = jwt
    }

    public var requiresAuthentication: Bool { tokens != nil || jwt != nil }

    /// What the filters decide about one request.
    public enum Verdict: Sendable, Equatable {
        case allowed
        case refused(RPCError)
        /// The request may go on if this bearer token verifies as a JWT.
        case verifyJWT(String)
    }

    /// The filters' verdict. `peer` is the socket's address as text (`nil` for a unix socket),
    /// worked out only when an IP filter is configured.
    public func check(headers: HTTPHeaders, peer: @autoclosure () -> String?) -> Verdict {
        if let allowedUserAgents {
            guard let agent = headers.first(name: "user-agent"), allowedUserAgents.contains(agent) else {
                return .refused(RPCError(.forbidden, "this User-Agent is not allowed"))
            }
        }
        if let allowedNetworks {
            guard let client = clientAddress(headers: headers, peer: peer()) else {
                return .refused(RPCError(.forbidden, "the client address cannot be determined"))
            }
            guard allowedNetworks.contains(where: { $0.contains(client) }) else {
                return .refused(RPCError(.forbidden, "client address \(IPAddress.text(client)) is not allowed"))
            }
        }
        guard requiresAuthentication else { return .allowed }
        guard let presented = Self.presentedToken(headers) else { return .refused(Self.tokenRequired) }
        // swift_rpc's `Token:` header carries tokens only; a JWT comes as a bearer token.
        return check(token: presented, mayBeJWT: headers.first(name: "authorization") != nil)
    }

    static let tokenRequired = RPCError(.unauthorized, "a valid token is required (Authorization: Bearer <token>)")

    /// The verdict on a presented token (a configured one, or a JWT to verify).
    public func check(token presented: String, mayBeJWT: Bool = true) -> Verdict {
        if let tokens, tokens.contains(where: { Self.constantTimeEqual($0, presented) }) { return .allowed }
        if jwt != nil, mayBeJWT { return .verifyJWT(presented) }
        return .refused(Self.tokenRequired)
    }

    /// Whether a client address may connect at all (`allowed_ips`; raw TCP has no proxy headers).
    public func check(peer: String?) -> RPCError? {
        guard let allowedNetworks else { return nil }
        guard let address = peer.flatMap(IPAddress.parse) else { return RPCError(.forbidden, "the client address cannot be determined") }
        guard allowedNetworks.contains(where: { $0.contains(address) }) else {
            return RPCError(.forbidden, "client address \(IPAddress.text(address)) is not allowed")
        }
        return nil
    }

    /// The client's address: from the proxy headers when the peer is a trusted proxy, else the
    /// peer itself. `nil` when the address that counts does not parse.
    public func clientAddress(headers: HTTPHeaders, peer: String?) -> [UInt8]? {
        guard let peer, let peerAddress = IPAddress.parse(peer) else { return nil }
        guard trustedProxies.contains(where: { $0.contains(peerAddress) }) else { return peerAddress }
        let forwarded = headers[canonicalForm: "x-forwarded-for"].map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        if !forwarded.isEmpty {
            var addresses: [[UInt8]] = []
            for entry in forwarded {
                guard let address = IPAddress.parse(entry) else { return nil }
                addresses.append(address)
            }
            // The rightmost hop that is not one of our proxies; the leftmost when all are.
            return addresses.last { address in !trustedProxies.contains { $0.contains(address) } } ?? addresses.first
        }
        if let realIP = headers.first(name: "x-real-ip") {
            return IPAddress.parse(realIP.trimmingSpaces)
        }
        return peerAddress
    }

    static func presentedToken(_ headers: HTTPHeaders) -> String? {
        if let authorization = headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingSpaces }
            return nil
        }
        return headers.first(name: "token")?.trimmingSpaces
    }

    /// Compares without stopping at the first difference, so timing does not reveal how much
    /// of a guess was right (the length of a token is not a secret worth hiding here).
    static func constantTimeEqual(_ expected: String, _ presented: String) -> Bool {
        let a = Array(expected.utf8)
        let b = Array(presented.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " || view.first == "\t" { view.removeFirst() }
        while view.last == " " || view.last == "\t" { view.removeLast() }
        return String(view)
    }
}
