import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SwiftRPC
import SwiftRPCClient

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a function from the shell and print the answer.",
        discussion: "Each ARG and --kw value is sent as JSON when it parses as JSON, else as a string. Exit 0 for 2xx, 1 for an error answer, 3 when the front cannot be reached.")

    @Argument(help: "The function.") var function: String
    @Argument(help: "Positional arguments.") var arguments: [String] = []
    @Option(name: .customLong("kw"), help: "A keyword argument, NAME=VALUE (repeatable).") var keywords: [String] = []
    @Option(help: "The front (default: $SWIFTRPC_URL, else the front of a swift-rpc run in this folder, else http://127.0.0.1:8080).")
    var url: String?
    @Option(help: "Call over the front's raw TCP port instead of HTTP: HOST:PORT (serve --tcp-port).") var tcp: String?
    @Flag(help: "For MQ functions: wait (up to 30 s) for the result.") var wait = false
    @Option(help: "A token or JWT, sent as Authorization: Bearer (default: $SWIFTRPC_TOKEN).") var token: String?
    @Option(help: "The User-Agent to send.") var userAgent: String?
    @Option(help: "base64 or aes-gcm (the key: --aes-gcm-key or $SWIFTRPC_AES_GCM_KEY, base64 of 32 bytes).") var encryption: String?
    @Option(help: "The AES-GCM key, base64 of 32 bytes.") var aesGcmKey: String?

    func validate() throws {
        _ = try clientConfiguration()
        if tcp != nil {
            _ = try tcpAddress()
            if encryption != nil { throw ValidationError("--encryption is for HTTP; over --tcp, use a TLS port") }
        }
    }

    /// `--tcp HOST:PORT` (an IPv6 host in brackets: `[::1]:9090`).
    func tcpAddress() throws -> (host: String, port: Int) {
        guard let tcp, let colon = tcp.lastIndex(of: ":"), let port = Int(tcp[tcp.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--tcp takes HOST:PORT, got '\(tcp ?? "")'")
        }
        var host = String(tcp[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--tcp takes HOST:PORT, got '\(tcp)'") }
        return (host, port)
    }

    func clientConfiguration() throws -> RPCClient.Configuration {
        let environment = ProcessInfo.processInfo.environment
        var configuration = RPCClient.Configuration(token: token ?? environment["SWIFTRPC_TOKEN"], userAgent: userAgent)
        switch encryption {
        case nil: break
        case "base64": configuration.encryption = .base64
        case "aes-gcm":
            guard let text = aesGcmKey ?? environment["SWIFTRPC_AES_GCM_KEY"], let key = Data(base64Encoded: text), key.count == 32 else {
                throw ValidationError("--encryption aes-gcm needs --aes-gcm-key (or $SWIFTRPC_AES_GCM_KEY): base64 of exactly 32 bytes")
            }
            configuration.encryption = .aesGCM(key: Array(key))
        case let other?: throw ValidationError("--encryption: base64 or aes-gcm, not '\(other)'")
        }
        return configuration
    }

    func run() async throws {
        let url = Discovery.frontURL(flag: url)
        var keywordObject = JSONObject()
        for keyword in keywords {
            guard let equals = keyword.firstIndex(of: "="), equals != keyword.startIndex else {
                throw ValidationError("--kw takes NAME=VALUE, got '\(keyword)'")
            }
            keywordObject[String(keyword[..<equals])] = Self.value(String(keyword[keyword.index(after: equals)...]))
        }
        let call = { (client: RPCClient) in
            try await client.call(
                function, arguments: arguments.map(Self.value), keywords: keywordObject, wait: wait ? CallDecoder.maxWaitSeconds : nil)
        }
        let answer: RPCClient.Answer
        if tcp != nil {
            let (host, port) = try tcpAddress()
            let client = RPCClient(tcpHost: host, port: port, configuration: try clientConfiguration())
            do {
                answer = try await call(client)
                await client.close()
            } catch {
                await client.close()
                throw CleanExit.message("error: cannot reach tcp://\(host):\(port): \(error)", code: 3)
            }
        } else {
            // A front that is not there should be reported in seconds: AsyncHTTPClient retries a
            // refused connection until the connect timeout.
            var configuration = HTTPClient.Configuration()
            configuration.timeout.connect = .seconds(3)
            let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                answer = try await call(RPCClient(baseURL: url, configuration: try clientConfiguration(), httpClient: httpClient))
                try? await httpClient.shutdown()
            } catch {
                try? await httpClient.shutdown()
                throw CleanExit.message("error: cannot reach \(url): \(error)", code: 3)
            }
        }
        print(String(decoding: answer.rawBody, as: UTF8.self))
        if !answer.isSuccess { throw ExitCode(1) }
    }

    static func value(_ text: String) -> JSONValue {
        (try? JSONParser.parse(text)) ?? .string(text)
    }
}
