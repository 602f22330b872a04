import Foundation
import JWTKit
import SwiftRPC

/// Verifies `Authorization: Bearer <jwt>`: the signature with the configured key, the header's
/// `alg` equal to the configured algorithm (never `none`, never another family), `exp` and
/// `nbf` with at most 60 s of leeway, and `aud` when an audience is configured.
public final class JWTVerifier: Sendable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hs256 = "HS256"
        case rs256 = "RS256"
        case es256 = "ES256"
    }

    public enum Key: Sendable {
        case secret(String)
        case publicKeyPEM(String)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    let algorithm: Algorithm
    let audience: String?
    private let keys: JWTKeyCollection
    static let leeway: TimeInterval = 60

    private init(algorithm: Algorithm, audience: String?, keys: JWTKeyCollection) {
        self.algorithm = algorithm
        self.audience = audience
        self.keys = keys
    }

    /// Loads the key; an unusable one is an error (start-up stops).
    public static func make(algorithm: Algorithm, key: Key, audience: String? = nil) async throws(Invalid) -> JWTVerifier {
        let keys = JWTKeyCollection()
        switch (algorithm, key) {
        // RFC 7518 §3.2: an HMAC key at least as long as the hash (jwt-kit asserts the same).
        case (.hs256, .secret(let secret)) where secret.utf8.count >= 32:
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case (.es256, .publicKeyPEM(let pem)):
            do { await keys.add(ecdsa: try ES256PublicKey(pem: pem)) } catch { throw Invalid(description: "public_key is not a P-256 public key in PEM") }
        case (.rs256, .publicKeyPEM(let pem)):
            do {
                await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
            } catch {
                throw Invalid(description: "public_key is not an RSA public key (2048 bits or more) in PEM")
            }
        case (.hs256, _):
            throw Invalid(description: "HS256 needs a secret of at least 32 bytes")
        case (_, .secret):
            throw Invalid(description: "\(algorithm.rawValue) needs a public_key (PEM)")
        }
        return JWTVerifier(algorithm: algorithm, audience: audience, keys: keys)
    }

    private struct Claims: JWTPayload {
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var aud: AudienceClaim?

        func verify(using algorithm: some JWTAlgorithm) throws {}  // checked below, with leeway
    }

    /// `nil` when the token is good, else the 401 to answer (which never shows the key).
    public func verify(_ token: String) async -> RPCError? {
        let refusal = RPCError(.unauthorized, "the token is not valid")
        guard headerAlgorithm(of: token) == algorithm.rawValue else { return refusal }
        do {
            let claims = try await keys.verify(token, as: Claims.self)
            let now = Date()
            try claims.exp?.verifyNotExpired(currentDate: now.addingTimeInterval(-Self.leeway))
            try claims.nbf?.verifyNotBefore(currentDate: now.addingTimeInterval(Self.leeway))
            if let audience {
                guard let aud = claims.aud else { return refusal }
                try aud.verifyIntendedAudience(includes: audience)
            }
            return nil
        } catch {
            return refusal
        }
    }

    private func headerAlgorithm(of token: String) -> String? {
        guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let json = try? JSONParser.parse(Array(data)) else { return nil }
        return json["alg"]?.stringValue
    }
}
