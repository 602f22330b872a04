import Crypto
import Foundation
import SwiftRPC
import _CryptoExtras

/// The `Encryption:` request header of SPEC §7. A request that names a mode has its body
/// decoded before anything else reads it; any decoding or authentication failure is a 400
/// and nothing runs. With `aes-gcm`, the answer is sealed the same way.
public struct BodyEncryption: Sendable {
    /// swift_rpc's scheme, for old clients: AES-128-CBC, IV = key, zero padding, lowercase hex.
    public var legacyAESKey: [UInt8]?
    /// AES-256-GCM: body and answer are `base64(nonce ‖ ciphertext ‖ tag)`.
    public var gcmKey: SymmetricKey?

    /// - Parameters:
    ///   - legacyAESKey: 16 bytes, or `nil` to refuse `Encryption: aes`.
    ///   - gcmKey: 32 bytes, or `nil` to refuse `Encryption: aes-gcm`.
    public init(legacyAESKey: [UInt8]? = nil, gcmKey: [UInt8]? = nil) {
        precondition(legacyAESKey.map { $0.count == 16 } ?? true, "the legacy AES key is 16 bytes")
        precondition(gcmKey.map { $0.count == 32 } ?? true, "the AES-GCM key is 32 bytes")
        self.legacyAESKey = legacyAESKey
        self.gcmKey = gcmKey.map { SymmetricKey(data: $0) }
    }

    public enum Mode: Sendable, Equatable {
        case base64
        case legacyAES
        case aesGCM
    }

    /// The mode a header value names, or a 400 when it names none this server has a key for.
    public func mode(for header: String) throws(RPCError) -> Mode {
        switch header.lowercased() {
        case "base64": return .base64
        case "aes":
            guard legacyAESKey != nil else { throw .badRequest("Encryption: aes is not enabled on this server") }
            return .legacyAES
        case "aes-gcm":
            guard gcmKey != nil else { throw .badRequest("Encryption: aes-gcm is not enabled on this server") }
            return .aesGCM
        default:
            throw .badRequest("unknown Encryption '\(header.prefix(32))': use base64, aes or aes-gcm")
        }
    }

    /// The plain body.
    public func decode(_ body: [UInt8], mode: Mode) throws(RPCError) -> [UInt8] {
        switch mode {
        case .base64:
            return try Self.base64Decoded(body)
        case .legacyAES:
            guard let key = legacyAESKey else { throw .badRequest("Encryption: aes is not enabled on this server") }
            guard let ciphertext = Self.hexDecoded(body), !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
                throw .badRequest("an aes body is lowercase hex of whole 16-byte blocks")
            }
            do {
                let iv = try AES._CBC.IV(ivBytes: key)
                var plain = Array(try AES._CBC.decrypt(ciphertext, using: SymmetricKey(data: key), iv: iv, noPadding: true))
                while plain.last == 0 { plain.removeLast() }  // swift_rpc pads with zero bytes
                return plain
            } catch {
                throw .badRequest("the aes body does not decrypt")
            }
        case .aesGCM:
            guard let key = gcmKey else { throw .badRequest("Encryption: aes-gcm is not enabled on this server") }
            let sealed = try Self.base64Decoded(body)
            guard sealed.count >= 12 + 16 else { throw .badRequest("an aes-gcm body is base64 of nonce, ciphertext and tag") }
            do {
                let box = try AES.GCM.SealedBox(combined: sealed)
                return Array(try AES.GCM.open(box, using: key))
            } catch {
                throw .badRequest("the aes-gcm body does not authenticate")
            }
        }
    }

    /// Seals an answer body (aes-gcm only; other modes answer plain).
    public func encodeAnswer(_ body: [UInt8], mode: Mode) -> [UInt8]? {
        guard mode == .aesGCM, let key = gcmKey, let sealed = try? AES.GCM.seal(body, using: key).combined else { return nil }
        return Array(sealed.base64EncodedString().utf8)
    }

    /// swift_rpc's encryption, for its clients and for tests: zero padding of 1 to 16 bytes.
    public static func legacyEncrypt(_ plain: [UInt8], key: [UInt8]) throws -> String {
        let padding = 16 - plain.count % 16
        let padded = plain + [UInt8](repeating: 0, count: padding)
        let ciphertext = try AES._CBC.encrypt(padded, using: SymmetricKey(data: key), iv: AES._CBC.IV(ivBytes: key), noPadding: true)
        return ciphertext.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Base64 with MIME line breaks allowed; anything else that is not base64 is refused.
    static func base64Decoded(_ body: [UInt8]) throws(RPCError) -> [UInt8] {
        let text = String(decoding: body.filter { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        guard let data = Data(base64Encoded: text) else { throw .badRequest("the body is not valid base64") }
        return Array(data)
    }

    static func hexDecoded(_ body: [UInt8]) -> [UInt8]? {
        guard body.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count / 2)
        var index = 0
        while index < body.count {
            guard let high = FormDecoder.hexDigitValue(body[index]), let low = FormDecoder.hexDigitValue(body[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
