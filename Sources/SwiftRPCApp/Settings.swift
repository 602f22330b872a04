import Foundation
import NIOSSL
import SwiftRPC
import SwiftRPCServer

/// The settings of SPEC §7 that this build implements, from a JSON file (`--config`) and
/// `SWIFTRPC_*` environment variables; the environment wins over the file. An unknown key, a
/// key of a feature not built yet, or a bad value is an error that names the key.
struct Settings {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    var maxBodyBytes = 1_048_576
    var maxConnections = 10_000
    /// 0: no limit per client address.
    var maxConnectionsPerIP = 0
    /// The raw TCP port of SPEC §9; `nil` serves none.
    var tcpPort: Int?
    var tcpIdleTimeoutSeconds = 60
    var allowedUserAgents: [String]?
    var allowedIPs: [CIDR]?
    var trustedProxies: [CIDR] = []
    var tokens: [String]?
    var legacyAESKey: String?
    /// Base64 of 32 bytes, as configured.
    var aesGCMKey: String?
    var tlsCertificatePath: String?
    var tlsKeyPath: String?
    var jwt: (algorithm: JWTVerifier.Algorithm, key: JWTVerifier.Key, audience: String?)?


    /// key → environment variable (lists are comma-separated there).
    static let environmentNames: [(key: String, variable: String)] = [
        ("max_body_bytes", "SWIFTRPC_MAX_BODY_BYTES"), ("max_connections", "SWIFTRPC_MAX_CONNECTIONS"),
        ("max_connections_per_ip", "SWIFTRPC_MAX_CONNECTIONS_PER_IP"), ("tcp_port", "SWIFTRPC_TCP_PORT"),
        ("tcp_idle_timeout", "SWIFTRPC_TCP_IDLE_TIMEOUT"),
        ("allowed_user_agents", "SWIFTRPC_ALLOWED_USER_AGENTS"), ("allowed_ips", "SWIFTRPC_ALLOWED_IPS"),
        ("trusted_proxies", "SWIFTRPC_TRUSTED_PROXIES"), ("tokens", "SWIFTRPC_TOKENS"),
        ("legacy_aes_key", "SWIFTRPC_LEGACY_AES_KEY"), ("aes_gcm_key", "SWIFTRPC_AES_GCM_KEY"),
        ("tls_cert", "SWIFTRPC_TLS_CERT"), ("tls_key", "SWIFTRPC_TLS_KEY"), ("jwt", "SWIFTRPC_JWT"),
    ]

    static let numberKeys: Set = ["max_body_bytes", "max_connections", "max_connections_per_ip", "tcp_port", "tcp_idle_timeout"]

    static func load(file: String?, environment: [String: String]) throws -> Settings {
        var settings = Settings()
        if let file {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw Invalid(description: "--config \(file): cannot read the file (\(error.localizedDescription))")
            }
            let parsed: JSONValue
            do {
                parsed = try JSONParser.parse(Array(data))
            } catch {
                throw Invalid(description: "--config \(file): not valid JSON (\(error))")
            }
            guard case .object(let object) = parsed else { throw Invalid(description: "--config \(file): must hold a JSON object") }
            for (key, value) in object {
                try settings.apply(key: key, value: value, source: "--config \(file)")
            }
        }
        for (key, variable) in environmentNames {
            guard let text = environment[variable] else { continue }
            let value: JSONValue
            if Self.numberKeys.contains(key) {
                value = Int(text).map(JSONValue.int) ?? .string(text)
            } else if ["legacy_aes_key", "aes_gcm_key", "tls_cert", "tls_key"].contains(key) {
                value = .string(text)
            } else if key == "jwt" {
                guard let object = try? JSONParser.parse(text) else { throw Invalid(description: "\(variable): jwt must be a JSON object") }
                value = object
            } else {
                value = .array(text.split(separator: ",").map { .string(String($0).trimmingCharacters(in: .whitespaces)) })
            }
            try settings.apply(key: key, value: value, source: variable)
        }
        if (settings.tlsCertificatePath == nil) != (settings.tlsKeyPath == nil) {
            throw Invalid(description: "tls_cert and tls_key go together: set both or neither")
        }
        return settings
    }

    private mutating func apply(key: String, value: JSONValue, source: String) throws {
        func fail(_ expectation: String) -> Invalid { Invalid(description: "\(source): \(key) must be \(expectation)") }
        func strings() throws -> [String] {
            guard case .array(let items) = value else { throw fail("a list of strings") }
            return try items.map { item in
                guard case .string(let text) = item, !text.isEmpty else { throw fail("a list of non-empty strings") }
                return text
            }
        }
        func networks() throws -> [CIDR] {
            try strings().map { text in
                guard let network = CIDR(text) else { throw Invalid(description: "\(source): \(key): '\(text)' is not an IP address or CIDR") }
                return network
            }
        }
        switch key {
        case "max_body_bytes":
            guard case .int(let bytes) = value, bytes >= 0 else { throw fail("a whole number of bytes >= 0") }
            maxBodyBytes = bytes
        case "max_connections":
            guard case .int(let count) = value, count >= 1 else { throw fail("a whole number >= 1") }
            maxConnections = count
        case "max_connections_per_ip":
            guard case .int(let count) = value, count >= 0 else { throw fail("a whole number >= 0 (0 for no limit)") }
            maxConnectionsPerIP = count
        case "tcp_port":
            guard case .int(let port) = value, (0...65535).contains(port) else { throw fail("a port number from 0 to 65535") }
            tcpPort = port
        case "tcp_idle_timeout":
            guard case .int(let seconds) = value, (1...86_400).contains(seconds) else { throw fail("a whole number of seconds from 1 to 86400") }
            tcpIdleTimeoutSeconds = seconds
        case "allowed_user_agents":
            allowedUserAgents = try strings()
        case "allowed_ips":
            allowedIPs = try networks()
        case "trusted_proxies":
            trustedProxies = try networks()
        case "tokens":
            let list = try strings()
            guard !list.isEmpty else { throw fail("a non-empty list of strings") }
            tokens = list
        case "legacy_aes_key":
            guard case .string(let text) = value, text.utf8.count == 16 else { throw fail("a string of exactly 16 characters") }
            legacyAESKey = text
        case "aes_gcm_key":
            guard case .string(let text) = value, let bytes = Data(base64Encoded: text), bytes.count == 32 else {
                throw fail("base64 of exactly 32 bytes")
            }
            aesGCMKey = text
        case "tls_cert":
            guard case .string(let path) = value, !path.isEmpty else { throw fail("the path of a PEM certificate file") }
            tlsCertificatePath = path
        case "tls_key":
            guard case .string(let path) = value, !path.isEmpty else { throw fail("the path of a PEM private key file") }
            tlsKeyPath = path
        case "jwt":
            guard case .object(let object) = value else { throw fail(#"an object {"algorithm": ..., "secret" or "public_key": ...}"#) }
            for name in object.keys where !["algorithm", "secret", "public_key", "audience"].contains(name) {
                throw Invalid(description: "\(source): jwt: unknown key '\(name)'")
            }
            guard let name = object["algorithm"]?.stringValue, let algorithm = JWTVerifier.Algorithm(rawValue: name) else {
                throw fail("an object whose algorithm is HS256, RS256 or ES256")
            }
            let keyMaterial: JWTVerifier.Key
            switch (algorithm, object["secret"], object["public_key"]) {
            case (.hs256, .string(let secret)?, nil) where !secret.isEmpty: keyMaterial = .secret(secret)
            case (.rs256, nil, .string(let pem)?), (.es256, nil, .string(let pem)?): keyMaterial = .publicKeyPEM(pem)
            case (.hs256, _, _): throw fail("an object with a non-empty \"secret\" for HS256 (and no public_key)")
            default: throw fail("an object with a PEM \"public_key\" for \(name) (and no secret)")
            }
            let audience = object["audience"]
            guard audience == nil || audience?.stringValue != nil else { throw fail("an object whose audience is a string") }
            jwt = (algorithm, keyMaterial, audience?.stringValue)
        default:
            throw Invalid(description: "\(source): unknown key '\(key)'")
        }
    }

    /// The filters; loading the JWT key may fail (an error that names `jwt`).
    func accessPolicy() async throws -> AccessPolicy {
        var verifier: JWTVerifier? = nil
        if let jwt {
            do {
                verifier = try await JWTVerifier.make(algorithm: jwt.algorithm, key: jwt.key, audience: jwt.audience)
            } catch {
                throw Invalid(description: "jwt: \(error)")
            }
        }
        return AccessPolicy(
            allowedUserAgents: allowedUserAgents.map(Set.init), allowedNetworks: allowedIPs, trustedProxies: trustedProxies, tokens: tokens,
            jwt: verifier)
    }

    /// The TLS context of `tls_cert` and `tls_key`, or `nil` for plain HTTP.
    func tlsContext() throws -> NIOSSLContext? {
        guard let certificatePath = tlsCertificatePath, let keyPath = tlsKeyPath else { return nil }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw Invalid(description: "tls_cert: cannot read a PEM certificate from \(certificatePath) (\(error))")
        }
        guard !certificates.isEmpty else { throw Invalid(description: "tls_cert: no certificate in \(certificatePath)") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw Invalid(description: "tls_key: cannot read a PEM private key from \(keyPath) (\(error))")
        }
        do {
            return try NIOSSLContext(
                configuration: .makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw Invalid(description: "tls_cert / tls_key: they do not make a TLS configuration (\(error))")
        }
    }

    var encryption: BodyEncryption {
        BodyEncryption(
            legacyAESKey: legacyAESKey.map { Array($0.utf8) }, gcmKey: aesGCMKey.flatMap { Data(base64Encoded: $0) }.map { Array($0) })
    }

    /// The effective settings as JSON, secrets masked.
    var maskedJSON: JSONValue {
        var object: JSONObject = [
            "max_body_bytes": .int(maxBodyBytes), "max_connections": .int(maxConnections), "max_connections_per_ip": .int(maxConnectionsPerIP),
            "tcp_port": tcpPort.map(JSONValue.int) ?? .null, "tcp_idle_timeout": .int(tcpIdleTimeoutSeconds),
        ]
        object["allowed_user_agents"] = allowedUserAgents.map { .array($0.map(JSONValue.string)) } ?? .null
        object["allowed_ips"] = allowedIPs.map { .array($0.map { .string($0.description) }) } ?? .null
        object["trusted_proxies"] = .array(trustedProxies.map { .string($0.description) })
        object["tokens"] = tokens.map { .array($0.map { _ in .string("***") }) } ?? .null
        object["legacy_aes_key"] = legacyAESKey == nil ? .null : "***"
        object["aes_gcm_key"] = aesGCMKey == nil ? .null : "***"
        object["tls_cert"] = tlsCertificatePath.map(JSONValue.string) ?? .null
        object["tls_key"] = tlsKeyPath.map(JSONValue.string) ?? .null
        if let jwt {
            var shown: JSONObject = ["algorithm": .string(jwt.algorithm.rawValue)]
            switch jwt.key {
            case .secret: shown["secret"] = "***"
            case .publicKeyPEM(let pem): shown["public_key"] = .string("(PEM, \(pem.utf8.count) bytes)")
            }
            shown["audience"] = jwt.audience.map(JSONValue.string) ?? .null
            object["jwt"] = .object(shown)
        } else {
            object["jwt"] = .null
        }
        return .object(object)
    }
}
