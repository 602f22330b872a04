import Foundation
import SwiftRPC

/// The settings of SPEC §7 that this build implements, from a JSON file and `SWIFTRPC_*`
/// environment variables (the environment wins over the file). An unknown key or a bad
/// value is an error that names the key.
struct Settings {
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    var maxBodyBytes = 1_048_576

    static let knownKeys: Set<String> = ["max_body_bytes"]

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
                guard knownKeys.contains(key) else { throw Invalid(description: "--config \(file): unknown key '\(key)'") }
                try settings.apply(key: key, value: value, source: "--config \(file)")
            }
        }
        if let text = environment["SWIFTRPC_MAX_BODY_BYTES"] {
            try settings.apply(key: "max_body_bytes", value: Int(text).map(JSONValue.int) ?? .string(text), source: "SWIFTRPC_MAX_BODY_BYTES")
        }
        return settings
    }

    private mutating func apply(key: String, value: JSONValue, source: String) throws {
        switch key {
        case "max_body_bytes":
            guard case .int(let bytes) = value, bytes >= 0 else {
                throw Invalid(description: "\(source): max_body_bytes must be a whole number of bytes >= 0")
            }
            maxBodyBytes = bytes
        default:
            throw Invalid(description: "\(source): unknown key '\(key)'")
        }
    }
}
