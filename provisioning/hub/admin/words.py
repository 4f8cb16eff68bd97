"""The admin page's words: states, commands, configuration keys and event kinds in
Vietnamese (the page puts the English or the code beside them)."""

from __future__ import annotations

STATE_VI = {"ok": "Hoạt động", "late": "Chậm", "offline": "Mất kết nối", "never": "Chưa báo"}
COMMAND_VI = {
    "collect_logs": "Thu nhật ký",
    "rekey": "Đổi khóa",
    "resync_config": "Đồng bộ cấu hình",
    "restart_service": "Khởi động lại dịch vụ",
    "reboot": "Khởi động lại máy",
    "doctor": "Kiểm tra máy",  # the page adds the code: "Kiểm tra máy (doctor)"
}

#: The configuration form's labels (the key itself follows in English), with the format
#: where it is not obvious.
KEY_VI = {
    "metadata.document_types": "Loại văn bản (MÃ=Tên; MÃ=Tên)",
    "metadata.party_codes_csv": "Danh mục mã tổ chức, đảng viên (CSV)",
    "selection.periods": "Giai đoạn cần số hóa (vd. 2015-2020; 2023)",
    "selection.document_types": "Loại văn bản cần số hóa (mã, cách nhau bởi dấu phẩy)",
    "selection.directions": "Sổ văn bản đến/đi (in, out; trống = cả hai)",
    "export.recipients_pem": "Chứng thư nơi nhận (JSON: danh sách PEM)",
    "export.allowed_sticks": "USB được phép (JSON)",
    "signing.reason": "Lý do ký",
    "signing.location": "Nơi ký",
    "signing.field_name": "Tên ô chữ ký",
    "uplink.window": "Giờ được gửi (vd. 18:00-07:00; trống = mọi lúc)",
    "uplink.bandwidth_kbit": "Giới hạn băng thông (kbit/s)",
    "ui.idle_timeout_s": "Tự đăng xuất sau (giây)",
    "ui.idle_warning_s": "Cảnh báo trước khi đăng xuất (giây)",
    "agent.heartbeat_s": "Chu kỳ báo cáo (giây)",
}

#: Event kinds of the hub's log; a kind not here is shown as its code.
EVENT_VI = {
    "hub_initialized": "Khởi tạo máy chủ",
    "schema_migrated": "Nâng cấp cơ sở dữ liệu",
    "token_created": "Tạo mã đăng ký",
    "token_withdrawn": "Thu hồi mã đăng ký",
    "enrolled": "Đăng ký máy",
    "reenrolled": "Đăng ký lại",
    "certificate_activated": "Chứng thư mới có hiệu lực",
    "revoked": "Thu hồi máy",
    "reinstated": "Cho phép đăng ký lại",
    "heartbeat_first": "Báo cáo đầu tiên",
    "back_online": "Kết nối lại",
    "app_version": "Đổi phiên bản phần mềm",
    "audit_fork": "Nhật ký kiểm toán bị rẽ nhánh",
    "audit_head_backwards": "Nhật ký kiểm toán bị lùi",
    "config_published": "Công bố cấu hình",
    "config_running": "Máy chạy cấu hình",
    "config_refused": "Máy từ chối cấu hình",
    "command_created": "Gửi lệnh",
    "command_result": "Kết quả lệnh",
    "upload_created": "Bắt đầu gửi tệp",
    "upload_expired": "Tệp gửi dở đã hết hạn",
    "upload_refused_classified": "Từ chối tài liệu mật qua mạng",
    "receipt": "Đã nhận tài liệu",
    "log_bundle_downloaded": "Tải nhật ký máy",
    "admin_account": "Tài khoản quản trị",
    "admin_unlock": "Mở khóa tài khoản",
    "tags_set": "Gắn nhãn máy",
    "window_set": "Đặt giờ cập nhật",
    "window_cleared": "Bỏ giờ cập nhật",
    "rollout_created": "Tạo đợt triển khai",
    "rollout_advanced": "Sang đợt tiếp",
    "rollout_paused": "Tạm dừng triển khai",
    "rollout_resumed": "Tiếp tục triển khai",
    "rollout_aborted": "Hủy triển khai",
    "rollout_completed": "Triển khai xong",
}
